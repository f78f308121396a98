package scheduler_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/regoresilience/rego/scheduler"
)

// Benchmarks of the hot path rego uses the scheduler for: arm a timeout (or
// hedge trigger), then cancel it because the attempt finished first. Each
// is measured next to its baseline, time.AfterFunc + Timer.Stop, with 0,
// 100k and 1M other timers pending far in the future (created before the
// timer is reset, for both). Results and the command are in BENCHMARKS.md.

var pendingCounts = []int{0, 100_000, 1_000_000}

type nopTask struct{}

func (*nopTask) Run() {}

func nop() {}

// measureCPU reports cpu-ns/op next to ns/op: the process CPU time the
// benchmark consumed per operation, wheel goroutine and GC included. On a
// shared, noisy machine wall time swings with other load; CPU time much
// less. Call it right after ResetTimer and run the returned func at the end.
func measureCPU(b *testing.B) func() {
	start, ok := processCPU()
	return func() {
		end, ok2 := processCPU()
		if ok && ok2 && b.N > 0 {
			b.ReportMetric(float64(end-start)/float64(b.N), "cpu-ns/op")
		}
	}
}

// benchDelay is the delay of the benchmarked timers: far enough that none
// fires during a run, near enough to sit in a low level of the wheel.
const benchDelay = time.Second

// pendingWheel returns a Scheduler with n timers pending an hour or more
// out. It is created once per sub-benchmark (the function b.Run calls is
// re-run with growing b.N) and closed when parent finishes.
func pendingWheel(parent *testing.B, n int) func() *scheduler.Scheduler {
	var s *scheduler.Scheduler
	return func() *scheduler.Scheduler {
		if s != nil {
			return s
		}
		var err error
		if s, err = scheduler.New(); err != nil {
			parent.Fatal(err)
		}
		parent.Cleanup(func() { s.Close() })
		task := &nopTask{}
		for i := range n {
			s.Schedule(time.Hour+time.Duration(i)*time.Millisecond, task)
		}
		return s
	}
}

// pendingRuntime does the same for the runtime's timers.
func pendingRuntime(parent *testing.B, n int) func() {
	var timers []*time.Timer
	return func() {
		if timers != nil {
			return
		}
		timers = make([]*time.Timer, 0, n)
		for i := range n {
			timers = append(timers, time.AfterFunc(time.Hour+time.Duration(i)*time.Millisecond, nop))
		}
		parent.Cleanup(func() {
			for _, t := range timers {
				t.Stop()
			}
		})
	}
}

// armStop is one implementation of the measured operation: arm a timer
// benchDelay out, then cancel it. Every row calls it through a func value,
// the runtime's included.
type armStop struct {
	name     string
	parallel bool // also measured from every P at once
	op       func(s *scheduler.Scheduler)
}

var (
	benchTask = &nopTask{}
	armStops  = []armStop{
		{"wheel", true, func(s *scheduler.Scheduler) { s.Schedule(benchDelay, benchTask).Stop() }},
		{"wheel-func", false, func(s *scheduler.Scheduler) { s.AfterFunc(benchDelay, nop).Stop() }},
		{"wheel-coarse", true, func(s *scheduler.Scheduler) { s.ScheduleCoarse(benchDelay, benchTask).Stop() }},
		{"wheel-once", false, func(s *scheduler.Scheduler) {
			// A struct the caller allocates anyway (rego's hedged round),
			// with the TimerNode embedded: the allocation is counted here, as
			// the runtime's is.
			o := new(onceTask)
			s.ScheduleCoarseNode(&o.once, benchDelay, o)
			o.once.Stop()
		}},
		{"runtime", true, func(*scheduler.Scheduler) { time.AfterFunc(benchDelay, nop).Stop() }},
	}
)

// onceTask is a Task with its timer embedded, as rego's hedged round is.
type onceTask struct {
	once scheduler.TimerNode
	_    [2]uint64
}

func (*onceTask) Run() {}

// BenchmarkScheduleStop measures one goroutine arming and cancelling timers.
func BenchmarkScheduleStop(b *testing.B) { benchArmStop(b, false) }

// BenchmarkScheduleStopParallel measures GOMAXPROCS goroutines arming and
// cancelling timers at once: the contended case, where the mailbox head is
// shared and the runtime's timers are per-P.
func BenchmarkScheduleStopParallel(b *testing.B) { benchArmStop(b, true) }

func benchArmStop(b *testing.B, parallel bool) {
	for _, n := range pendingCounts {
		wheel, runtimeTimers := pendingWheel(b, n), pendingRuntime(b, n)
		for _, impl := range armStops {
			if parallel && !impl.parallel {
				continue
			}
			b.Run(fmt.Sprintf("impl=%s/pending=%d", impl.name, n), func(b *testing.B) {
				var s *scheduler.Scheduler
				if impl.name == "runtime" {
					runtimeTimers()
				} else {
					s = wheel()
				}
				b.ReportAllocs()
				b.ResetTimer()
				defer measureCPU(b)()
				if !parallel {
					for range b.N {
						impl.op(s)
					}
					return
				}
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						impl.op(s)
					}
				})
			})
		}
	}
}

// BenchmarkPacedScheduleStop measures what the wheel costs a process that
// arms and cancels one timer at a steady rate, as a service does per
// request: cpu-% is the process's CPU time (every goroutine: the pacing
// ticker, the wheel goroutine, the GC) over wall time. With ScheduleCoarse
// the wheel polls, waking every tick while timers arrive; this is what
// that costs. ns/op is the pacing interval, not a speed.
func BenchmarkPacedScheduleStop(b *testing.B) {
	for _, every := range []time.Duration{100 * time.Microsecond, 500 * time.Microsecond, 2 * time.Millisecond} {
		for _, impl := range []string{"wheel", "wheel-coarse"} {
			b.Run(fmt.Sprintf("every=%v/impl=%s", every, impl), func(b *testing.B) {
				s, err := scheduler.New()
				if err != nil {
					b.Fatal(err)
				}
				defer s.Close()
				tk := time.NewTicker(every)
				defer tk.Stop()
				b.ResetTimer()
				c0, ok := processCPU()
				start := time.Now()
				for range b.N {
					<-tk.C
					if impl == "wheel" {
						s.Schedule(benchDelay, benchTask).Stop()
					} else {
						s.ScheduleCoarse(benchDelay, benchTask).Stop()
					}
				}
				if c1, ok2 := processCPU(); ok && ok2 {
					b.ReportMetric(100*float64(c1-c0)/float64(time.Since(start)), "cpu-%")
				}
			})
		}
	}
}
