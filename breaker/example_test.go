package breaker_test

import (
	"fmt"
	"time"

	"github.com/regoresilience/rego/breaker"
	"github.com/regoresilience/rego/policy"
)

// The protocol a caller follows, on a fake clock: ask before the call, report
// each attempt, release at the end.
func Example() {
	var now int64 // a fake clock, in nanoseconds
	b := breaker.New(policy.Breaker{FailureRate: 50, MinCalls: 2, OpenDuration: time.Second, HalfOpenProbes: 1},
		func() int64 { return now })

	attempt := func(failed bool) {
		tk, ok := b.Allow()
		if !ok {
			fmt.Println("refused:", breaker.ErrOpen)
			return
		}
		b.Record(&tk, failed)
		b.Release(&tk)
		fmt.Println("ran, breaker", b.State())
	}
	attempt(true)
	attempt(true) // 2 of 2 failed: opens
	attempt(false)
	now += int64(time.Second)
	attempt(false) // the probe succeeds: closes
	// Output:
	// ran, breaker closed
	// ran, breaker open
	// refused: rego: circuit breaker open
	// ran, breaker closed
}
