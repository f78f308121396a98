package hedge

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// t0 is the fixed start of every test clock: nothing here reads real time.
var t0 = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)

// refQuantile is the reference Tracker.Quantile is checked against: the
// nearest-rank sample of rank max(1, round(p% × n)) of the sorted samples,
// computed with the same float expression as the histogram.
func refQuantile(sorted []time.Duration, p float64) time.Duration {
	n := len(sorted)
	if n == 0 {
		return 0
	}
	rank := int(p/100*float64(n) + 0.5)
	rank = min(max(rank, 1), n)
	return sorted[rank-1]
}

// withinPrecision reports whether got is within the tracker's precision of
// the exact sample want: 1% of want (2 significant figures), or 1µs (the
// storage unit) for values too small for 1% to reach a whole unit.
func withinPrecision(got, want time.Duration) bool {
	tol := max(want/100, time.Microsecond)
	return got >= want-tol && got <= want+tol
}

// distribution draws one latency sample.
type distribution struct {
	name string
	draw func(r *rand.Rand) time.Duration
}

func latencyDistributions() []distribution {
	normal := func(r *rand.Rand, mean, sd time.Duration) time.Duration {
		return max(time.Duration(r.NormFloat64()*float64(sd))+mean, time.Microsecond)
	}
	return []distribution{
		{"lognormal", func(r *rand.Rand) time.Duration {
			return time.Duration(math.Exp(r.NormFloat64() + math.Log(float64(5*time.Millisecond))))
		}},
		{"exponential", func(r *rand.Rand) time.Duration {
			return time.Duration(r.ExpFloat64() * float64(20*time.Millisecond))
		}},
		{"uniform", func(r *rand.Rand) time.Duration {
			return 100*time.Microsecond + time.Duration(r.Int64N(int64(50*time.Millisecond)))
		}},
		{"bimodal", func(r *rand.Rand) time.Duration {
			if r.IntN(10) == 0 {
				return normal(r, 200*time.Millisecond, 20*time.Millisecond)
			}
			return normal(r, 2*time.Millisecond, 200*time.Microsecond)
		}},
		{"pareto", func(r *rand.Rand) time.Duration {
			// xm = 1ms, alpha = 1.5: a heavy tail reaching seconds.
			return time.Duration(float64(time.Millisecond) / math.Pow(1-r.Float64(), 1/1.5))
		}},
		{"sub-millisecond", func(r *rand.Rand) time.Duration {
			return time.Duration(r.Int64N(int64(900*time.Microsecond))) + 50*time.Microsecond
		}},
	}
}

// clampDefault is what a default Tracker stores for d, in ns: the sample the
// reference must use (the tracker clamps into 1µs..60s).
func clampDefault(d time.Duration) time.Duration {
	return min(max(d, DefaultMin), DefaultMax)
}

func sortedCopy(s []time.Duration) []time.Duration {
	c := slices.Clone(s)
	slices.Sort(c)
	return c
}

func mustTracker(t testing.TB, c TrackerConfig, now time.Time) *Tracker {
	t.Helper()
	tr, err := NewTracker(c, now)
	if err != nil {
		t.Fatalf("NewTracker(%+v): %v", c, err)
	}
	return tr
}
