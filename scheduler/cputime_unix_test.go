//go:build unix

package scheduler_test

import (
	"syscall"
	"time"
)

// processCPU returns the CPU time (user + system) the test process has used,
// every goroutine included: the wheel goroutine's work and the garbage
// collector's count against the benchmark that caused them.
func processCPU() (time.Duration, bool) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, false
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), true
}
