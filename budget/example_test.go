package budget_test

import (
	"errors"
	"fmt"
	"time"

	"github.com/regoresilience/rego/budget"
)

// A fixed clock keeps the examples independent of real time.
func fixedClock() time.Time { return time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC) }

// The default retry budget allows 10% of recent first attempts plus a floor of
// 10 retries per second over 10 s: 100 calls fund 10 retries on top of 100.
func ExampleDefaultRetry() {
	b := budget.DefaultRetry(fixedClock)
	for range 100 {
		b.Record(true, false) // each call's first attempt, here all failing
	}
	granted := 0
	for b.TryAcquire() {
		granted++
	}
	fmt.Println("retries granted:", granted)
	// Output: retries granted: 110
}

func ExampleNewRatio() {
	r, err := budget.NewRatio(budget.RatioConfig{Percent: 20, Window: 10 * time.Second, Now: fixedClock})
	if err != nil {
		panic(err)
	}
	for range 10 {
		r.Record(true, false)
	}
	fmt.Println(r.TryAcquire(), r.TryAcquire(), r.TryAcquire())
	fmt.Printf("%+v\n", r.Stats())
	// Output:
	// true true false
	// {Acquired:2 Denied:1 FirstAttempts:10 Withdrawals:2 Limit:2}
}

func ExampleNewRatio_invalid() {
	_, err := budget.NewRatio(budget.RatioConfig{Percent: -5})
	fmt.Println(errors.Is(err, budget.ErrInvalidConfig))
	fmt.Println(err)
	// Output:
	// true
	// budget: ratio: Percent: must be >= 0, got -5
	// budget: ratio: Window: must be > 0, got 0s
}

func ExampleNewTokenBucket() {
	b, err := budget.NewTokenBucket(budget.TokenBucketConfig{MaxTokens: 4, TokenRatio: 0.5})
	if err != nil {
		panic(err)
	}
	b.Record(true, false) // 3 tokens left: still more than half
	fmt.Println(b.TryAcquire())
	b.Record(false, false) // 2 tokens: exactly half is not enough
	fmt.Println(b.TryAcquire())
	b.Record(true, true) // 2.5 tokens
	fmt.Println(b.TryAcquire())
	// Output:
	// true
	// false
	// true
}

func ExampleNewConcurrency() {
	c, err := budget.NewConcurrency(budget.ConcurrencyConfig{Max: 1})
	if err != nil {
		panic(err)
	}
	fmt.Println(c.TryAcquire(), c.TryAcquire()) // one hedge in flight at most
	c.Release()                                 // the hedge ended
	fmt.Println(c.TryAcquire())
	c.Release()
	fmt.Printf("%+v\n", c.Stats())
	// Output:
	// true false
	// true
	// {Acquired:2 Denied:1 Released:2 Unmatched:0 InFlight:0 Max:1}
}

func ExampleNewAdaptive() {
	a, err := budget.NewAdaptive(budget.AdaptiveConfig{
		Now:  fixedClock,
		Rand: func() float64 { return 0.5 }, // deterministic for the example
	})
	if err != nil {
		panic(err)
	}
	for range 9 {
		a.Record(true, false) // the backend is rejecting everything
	}
	a.Record(true, true)
	fmt.Printf("p = %.1f\n", a.Stats().RejectProbability) // (10 - 2·1) / 11
	fmt.Println("admit first attempt:", a.Admit())
	// Output:
	// p = 0.7
	// admit first attempt: false
}

func ExampleNewRatioPair() {
	retry, hedge, err := budget.NewRatioPair(budget.DefaultRetryConfig(nil), budget.DefaultHedgeConfig(nil))
	if err != nil {
		panic(err)
	}
	for range 100 {
		retry.Record(true, true) // each first attempt, once, for both
	}
	fmt.Println("shared:", budget.SharesDeposits(retry, hedge))
	fmt.Println("first attempts seen by the hedge budget:", hedge.Stats().FirstAttempts)
	// Output:
	// shared: true
	// first attempts seen by the hedge budget: 100
}
