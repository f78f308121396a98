package budget

import (
	"fmt"
	"testing"
	"time"
)

// stormResult is what a backend saw during a simulated outage.
type stormResult struct{ firsts, attempts int }

func (s stormResult) ratio() float64 { return float64(s.attempts) / float64(s.firsts) }

// simulateOutage sends rate calls per second, evenly spaced, for d of fake
// time, to a backend that fails every attempt. Each call makes up to
// maxAttempts attempts, asking b for a permit before every retry, exactly as
// the engine does.
func simulateOutage(clk *fakeClock, b Budget, rate, maxAttempts int, d time.Duration) stormResult {
	var res stormResult
	step := time.Second / time.Duration(rate)
	for end := clk.Offset() + d; clk.Offset() < end; clk.Advance(step) {
		res.firsts++
		res.attempts++
		b.Record(true, false)
		for range maxAttempts - 1 {
			if !b.TryAcquire() {
				break // no wait: the call returns its last error
			}
			res.attempts++
			b.Record(false, false)
			b.Release()
		}
	}
	return res
}

// TestRatioBoundsRetryStorm verifies the headline promise of the ratio
// budgets: a backend failing every call, with 3 attempts allowed per call,
// sees at most 1 + Percent/100 + floor/rate times its first-attempt load
// over 60 s, and the budget does grant about that much (it is a bound that is
// used, not a lockout).
func TestRatioBoundsRetryStorm(t *testing.T) {
	const (
		maxAttempts = 3
		duration    = 60 * time.Second
		epsilon     = 0.005
	)
	for _, tc := range []struct {
		name  string
		new   func(Clock) Budget
		floor float64
	}{
		{"DefaultRetry", DefaultRetry, DefaultRetryMinPerSecond},
		{"DefaultHedge", DefaultHedge, DefaultHedgeMinPerSecond},
	} {
		for _, rate := range []int{50, 100, 1000, 2000} {
			t.Run(fmt.Sprintf("%s/%d_per_s", tc.name, rate), func(t *testing.T) {
				clk := new(fakeClock)
				res := simulateOutage(clk, tc.new(clk.Now), rate, maxAttempts, duration)
				bound := min(1+0.10+tc.floor/float64(rate), maxAttempts)
				t.Logf("%d first attempts, %d attempts: %.4f× (bound %.4f×)", res.firsts, res.attempts, res.ratio(), bound)
				if res.ratio() > bound+epsilon {
					t.Errorf("backend load %.4f× its first attempts, want <= %.4f×", res.ratio(), bound)
				}
				if res.ratio() < bound-0.05 {
					t.Errorf("backend load %.4f×: the budget granted far less than its %.4f× bound", res.ratio(), bound)
				}
			})
		}
	}
}

// TestThrottlesBoundRetryStorm verifies that the outcome-driven kinds shut
// retries off during a total outage: the token bucket after MaxTokens/2
// failures, the adaptive throttle as its rejection probability nears 1.
func TestThrottlesBoundRetryStorm(t *testing.T) {
	clk := new(fakeClock)
	tb, err := NewTokenBucket(TokenBucketConfig{MaxTokens: 100, TokenRatio: 0.1})
	if err != nil {
		t.Fatal(err)
	}
	ad, err := NewAdaptive(AdaptiveConfig{Now: clk.Now, Rand: constRand(0.5)})
	if err != nil {
		t.Fatal(err)
	}
	for name, b := range map[string]Budget{"token_bucket": tb, "adaptive": ad} {
		res := simulateOutage(clk, b, 100, 3, 60*time.Second)
		t.Logf("%s: %d first attempts, %d attempts: %.4f×", name, res.firsts, res.attempts, res.ratio())
		if res.ratio() > 1.01 {
			t.Errorf("%s: backend load %.4f× its first attempts, want <= 1.01×", name, res.ratio())
		}
	}
}

// TestRatioStormOffsetStart verifies the bound when the outage starts mid
// bucket: the simulated minute then straddles seven windows instead of six,
// and the only extra is at most one more window's floor.
func TestRatioStormOffsetStart(t *testing.T) {
	clk := new(fakeClock)
	b := DefaultRetry(clk.Now)
	clk.Advance(3700 * time.Millisecond)
	const rate = 100
	res := simulateOutage(clk, b, rate, 3, 60*time.Second)
	oneFloor := float64(DefaultRetryMinPerSecond*DefaultRatioWindow.Seconds()) / float64(res.firsts)
	bound := 1 + 0.10 + DefaultRetryMinPerSecond/float64(rate) + oneFloor
	t.Logf("%d first attempts, %d attempts: %.4f× (bound %.4f×)", res.firsts, res.attempts, res.ratio(), bound)
	if res.ratio() > bound {
		t.Errorf("backend load %.4f× its first attempts, want <= %.4f×", res.ratio(), bound)
	}
}

// constRand returns a Rand that always returns x.
func constRand(x float64) func() float64 { return func() float64 { return x } }
