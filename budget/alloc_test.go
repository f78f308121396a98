package budget

import (
	"testing"
	"time"
)

// allKinds returns one budget of each kind on clk, for tests that must hold
// for every kind.
func allKinds(t testing.TB, clk *fakeClock) map[string]Budget {
	t.Helper()
	tb := mustTokenBucket(t, TokenBucketConfig{MaxTokens: 10, TokenRatio: 0.1})
	c, err := NewConcurrency(ConcurrencyConfig{Max: 4})
	if err != nil {
		t.Fatal(err)
	}
	return map[string]Budget{
		"ratio":        mustRatio(t, RatioConfig{Percent: 10, MinPerSecond: 10, Window: 10 * time.Second, Now: clk.Now}),
		"token_bucket": tb,
		"concurrency":  c,
		"adaptive":     mustAdaptive(t, AdaptiveConfig{Now: clk.Now, Rand: constRand(0.5)}),
	}
}

// TestZeroAllocs verifies that no method on the hot path allocates, for any
// kind, including across bucket boundaries.
func TestZeroAllocs(t *testing.T) {
	clk := new(fakeClock)
	for name, b := range allKinds(t, clk) {
		n := testing.AllocsPerRun(1000, func() {
			b.Record(true, false)
			if b.TryAcquire() {
				b.Record(false, false)
				b.Release()
			}
			if a, ok := b.(Admitter); ok {
				a.Admit()
			}
			clk.Advance(300 * time.Millisecond)
		})
		if n != 0 {
			t.Errorf("%s: %v allocs per call sequence, want 0", name, n)
		}
	}
}
