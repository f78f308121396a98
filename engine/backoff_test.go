package engine

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/regoresilience/rego/policy"
)

// TestBackoffBounds verifies every jitter kind stays within its documented range.
func TestBackoffBounds(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	rnd := rng.Uint64
	r := policy.Retry{InitialBackoff: 100 * time.Millisecond, MaxBackoff: 2 * time.Second, Multiplier: 2}
	for _, j := range []policy.Jitter{policy.JitterNone, policy.JitterFull, policy.JitterEqual, policy.JitterDecorrelated} {
		r.Jitter = j
		prev := time.Duration(0)
		for n := 0; n < 64; n++ {
			ceil := min(r.MaxBackoff, r.InitialBackoff<<min(n, 20))
			d := backoff(&r, n, prev, rnd)
			lo, hi := time.Duration(0), ceil
			switch j {
			case policy.JitterNone:
				lo = ceil
			case policy.JitterEqual:
				lo = ceil / 2
			case policy.JitterDecorrelated:
				lo, hi = r.InitialBackoff, min(r.MaxBackoff, 3*max(prev, r.InitialBackoff))
			}
			if d < lo || d > hi {
				t.Fatalf("%v retry %d: %v not in [%v, %v]", j, n, d, lo, hi)
			}
			prev = d
		}
	}
}

// TestBackoffHugeMultiplier verifies overflow clamps to MaxBackoff.
func TestBackoffHugeMultiplier(t *testing.T) {
	r := policy.Retry{InitialBackoff: time.Hour, MaxBackoff: 2 * time.Hour, Multiplier: 1e300, Jitter: policy.JitterNone}
	if d := backoff(&r, 9, 0, rand.Uint64); d != 2*time.Hour {
		t.Fatalf("got %v", d)
	}
}
