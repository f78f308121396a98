package policy_test

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/regoresilience/rego/policy"
)

// newRand returns a deterministic source: property tests must fail the same
// way every run.
func newRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, 0x5eed)) }

// anyDuration returns zeros, small, boundary, negative and huge durations.
func anyDuration(r *rand.Rand) time.Duration {
	switch r.IntN(8) {
	case 0, 1:
		return 0
	case 2:
		return -time.Duration(r.Int64N(int64(time.Hour)))
	case 3:
		return 24*time.Hour + time.Duration(r.IntN(3)-1)
	case 4:
		return time.Duration(math.MaxInt64 - r.Int64N(10))
	default:
		return time.Duration(r.Int64N(int64(10 * time.Second)))
	}
}

func anyInt(r *rand.Rand, hi int) int {
	switch r.IntN(6) {
	case 0:
		return 0
	case 1:
		return -r.IntN(5) - 1
	case 2:
		return hi + r.IntN(3) - 1
	case 3:
		return math.MaxInt - r.IntN(3)
	default:
		return r.IntN(hi + 1)
	}
}

func anyFloat(r *rand.Rand) float64 {
	specials := []float64{0, 0, math.NaN(), math.Inf(1), math.Inf(-1), -1, 0.5, 1, 99.99, 100, 101, 1e300}
	if r.IntN(2) == 0 {
		return specials[r.IntN(len(specials))]
	}
	return r.Float64() * 120
}

// anyPolicy returns a policy with arbitrary (often invalid) field values.
func anyPolicy(r *rand.Rand) policy.Policy {
	names := []string{"", "http", "shared", " padded", "a\x00b"}
	return policy.Policy{
		Retry: policy.Retry{
			MaxAttempts:    anyInt(r, 12),
			InitialBackoff: anyDuration(r),
			MaxBackoff:     anyDuration(r),
			Multiplier:     anyFloat(r),
			Jitter:         policy.Jitter(r.IntN(6)),
			AttemptTimeout: anyDuration(r),
			MaxRetryAfter:  anyDuration(r),
		},
		Hedge: policy.Hedge{
			MaxHedges:  anyInt(r, 6),
			Delay:      anyDuration(r),
			Percentile: anyFloat(r),
			MinSamples: anyInt(r, 200),
			MinDelay:   anyDuration(r),
			MaxDelay:   anyDuration(r),
		},
		Breaker: policy.Breaker{
			FailureRate:    anyFloat(r),
			MinCalls:       anyInt(r, 50),
			Window:         anyDuration(r),
			OpenDuration:   anyDuration(r),
			HalfOpenProbes: anyInt(r, 5),
		},
		Timeout:     anyDuration(r),
		Classifier:  names[r.IntN(len(names))],
		RetryBudget: names[r.IntN(len(names))],
		HedgeBudget: names[r.IntN(len(names))],
	}
}

// validPolicy returns a random policy that passes Validate (not normalized),
// biased towards zeros and limits.
func validPolicy(r *rand.Rand) policy.Policy {
	dur := func() time.Duration {
		switch r.IntN(5) {
		case 0, 1:
			return 0
		case 2:
			return 24 * time.Hour
		default:
			return time.Duration(r.Int64N(int64(24*time.Hour)) + 1)
		}
	}
	count := func(hi int) int {
		switch r.IntN(3) {
		case 0:
			return 0
		case 1:
			return hi
		default:
			return r.IntN(hi + 1)
		}
	}
	float := func(lo, hi float64) float64 {
		if r.IntN(3) == 0 {
			return 0
		}
		return lo + r.Float64()*(hi-lo)
	}
	names := []string{"", "http", "shared", "grpc codes", "ünïcode"}
	p := policy.Policy{
		Retry: policy.Retry{
			MaxAttempts: count(1000), InitialBackoff: dur(), MaxBackoff: dur(), Multiplier: float(1, 100),
			Jitter: policy.Jitter(r.IntN(4)), AttemptTimeout: dur(), MaxRetryAfter: dur(),
		},
		Hedge: policy.Hedge{
			MaxHedges: count(100), Delay: dur(), Percentile: float(1e-9, 99.999), MinSamples: count(1_000_000),
			MinDelay: dur(), MaxDelay: dur(),
		},
		Timeout:     dur(),
		Classifier:  names[r.IntN(len(names))],
		RetryBudget: names[r.IntN(len(names))],
		HedgeBudget: names[r.IntN(len(names))],
	}
	if r.IntN(2) == 0 {
		p.Breaker = policy.Breaker{FailureRate: 1e-9 + r.Float64()*100, MinCalls: count(1_000_000),
			OpenDuration: dur(), HalfOpenProbes: count(1000)}
		if w := dur(); w == 0 || w >= 10*time.Millisecond {
			p.Breaker.Window = w
		}
		p.Breaker.FailureRate = min(p.Breaker.FailureRate, 100)
	}
	if p.Hedge.MaxHedges > 0 && p.Hedge.Delay == 0 {
		p.Hedge.Delay = time.Millisecond
	}
	if err := p.Validate(); err != nil {
		panic(fmt.Sprintf("validPolicy generated an invalid policy: %v", err))
	}
	return p
}

// fieldErrors returns the lines of err's message: one per problem, since
// errors.Join puts each joined error on its own line.
func fieldErrors(err error) []string {
	if err == nil {
		return nil
	}
	return strings.Split(err.Error(), "\n")
}

// allMatch reports whether every leaf of a joined error matches target.
func allMatch(err, target error) bool {
	j, ok := err.(interface{ Unwrap() []error })
	if !ok {
		return errors.Is(err, target)
	}
	for _, e := range j.Unwrap() {
		if !allMatch(e, target) {
			return false
		}
	}
	return true
}
