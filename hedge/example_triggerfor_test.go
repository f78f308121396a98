package hedge_test

import (
	"fmt"
	"time"

	"github.com/regoresilience/rego/hedge"
	"github.com/regoresilience/rego/policy"
)

// TriggerFor turns a policy's hedge section into a Trigger: a fixed delay
// when no percentile is set, a latency-aware one otherwise.
func ExampleTriggerFor() {
	fixed := hedge.TriggerFor(policy.Hedge{MaxHedges: 1, Delay: 50 * time.Millisecond})
	aware := hedge.TriggerFor(policy.Hedge{
		MaxHedges:  1,
		Delay:      50 * time.Millisecond, // used until MinSamples are seen
		Percentile: 95,
		MinSamples: 100,
		MinDelay:   5 * time.Millisecond,
		MaxDelay:   time.Second,
	})
	fmt.Printf("%#v\n", fixed)
	fmt.Printf("%#v\n", aware)
	fmt.Println(aware.Delay(nil, time.Time{}))
	// Output:
	// hedge.Fixed{D:50000000}
	// hedge.Percentile{P:95, MinSamples:100, Fallback:50000000, Min:5000000, Max:1000000000}
	// 50ms
}
