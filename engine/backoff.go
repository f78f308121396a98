package engine

import (
	"math"
	"time"

	"github.com/regoresilience/rego/policy"
)

// backoff returns the wait before retry number n (0 = the wait after the first
// attempt). prev is the previous wait, used by decorrelated jitter. The result is
// always within [0, MaxBackoff]; r must be normalized.
func backoff(r *policy.Retry, n int, prev time.Duration, rnd func() uint64) time.Duration {
	limit := r.MaxBackoff
	base := r.InitialBackoff
	switch r.Jitter {
	case policy.JitterDecorrelated:
		// AWS "decorrelated jitter": min(cap, uniform(initial, prev*3)).
		if prev < base {
			prev = base
		}
		hi := prev
		if hi < limit/3 {
			hi *= 3
		} else {
			hi = limit
		}
		return min(limit, base+uniform(hi-base, rnd))
	}
	exp := float64(base) * math.Pow(r.Multiplier, float64(n))
	d := limit
	if exp < float64(limit) { // also false for NaN and +Inf
		d = time.Duration(exp)
	}
	switch r.Jitter {
	case policy.JitterNone:
		return d
	case policy.JitterEqual:
		return d/2 + uniform(d-d/2, rnd)
	default: // JitterFull
		return uniform(d, rnd)
	}
}

// uniform returns a duration in [0, d].
func uniform(d time.Duration, rnd func() uint64) time.Duration {
	if d <= 0 {
		return 0
	}
	return time.Duration(rnd() % (uint64(d) + 1))
}
