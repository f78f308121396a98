package hedge_test

import (
	"fmt"
	"time"

	"github.com/regoresilience/rego/hedge"
	"github.com/regoresilience/rego/policy"
)

// A key worker owns one Tracker: it records each finished attempt's latency
// and reads the percentile it hedges at. Time is passed in, never read.
func ExampleTracker() {
	start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	tr, err := hedge.NewTracker(hedge.TrackerConfig{}, start) // 3 × 10s windows
	if err != nil {
		panic(err)
	}
	for i := 1; i <= 100; i++ {
		tr.Record(time.Duration(i)*time.Millisecond, start.Add(time.Duration(i)*100*time.Millisecond))
	}
	now := start.Add(10 * time.Second)
	p95, n := tr.Quantile(95, now)
	fmt.Printf("p95 over %d samples: %v\n", n, p95.Round(time.Millisecond))

	// 30s later every window has rotated out.
	fmt.Println("samples after 30s:", tr.Count(start.Add(40*time.Second)))
	// Output:
	// p95 over 100 samples: 95ms
	// samples after 30s: 0
}

// A Percentile trigger answers the fallback until the tracker has seen
// MinSamples samples, then the key's own tail latency, bounded to [Min, Max].
func ExamplePercentile() {
	start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	tr, _ := hedge.NewTracker(hedge.TrackerConfig{}, start)
	trig := hedge.Percentile{P: 90, MinSamples: 50, Fallback: 100 * time.Millisecond, Min: 5 * time.Millisecond, Max: time.Second}

	fmt.Println("cold:", trig.Delay(tr, start))
	for i := range 50 {
		tr.Record(time.Duration(10+i%10)*time.Millisecond, start) // 10..19ms
	}
	fmt.Println("warm:", trig.Delay(tr, start).Round(time.Millisecond))
	fmt.Println("no source:", trig.Delay(nil, start))
	// Output:
	// cold: 100ms
	// warm: 18ms
	// no source: 100ms
}

// A tracker fed by finished attempts and a trigger built from a policy: a
// p95 trigger, which answers its fixed delay until the key has 100 samples.
func ExampleTriggerFor_tracker() {
	elapsed := 12 * time.Millisecond // a finished attempt's latency

	start := time.Now()
	tr, _ := hedge.NewTracker(hedge.TrackerConfig{}, start) // 3 × 10s windows, 1µs..60s
	trig := hedge.TriggerFor(policy.Hedge{MaxHedges: 1, Delay: 80 * time.Millisecond,
		Percentile: 95, MinDelay: 10 * time.Millisecond, MaxDelay: 500 * time.Millisecond})

	tr.Record(elapsed, time.Now())      // per finished attempt
	delay := trig.Delay(tr, time.Now()) // 80ms until 100 samples, then p95 within [10ms, 500ms]
	fmt.Println(delay)
	// Output: 80ms
}
