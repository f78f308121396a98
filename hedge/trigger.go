package hedge

import (
	"time"
)

// DefaultMinSamples is the number of samples a [Percentile] trigger waits for
// before trusting the latency source, when its MinSamples is 0.
const DefaultMinSamples = 100

// Trigger decides how long after an attempt starts the next hedge fires.
type Trigger interface {
	// Delay returns when the next hedge should fire after an attempt
	// starts, as of now. src may be nil. The result is never negative.
	Delay(src LatencySource, now time.Time) time.Duration
}

var (
	_ Trigger = Fixed{}
	_ Trigger = Percentile{}
)

// Fixed is a Trigger that always answers D (a negative D counts as 0). It
// ignores the latency source.
type Fixed struct {
	D time.Duration
}

// Delay returns f.D, or 0 when f.D is negative.
func (f Fixed) Delay(LatencySource, time.Time) time.Duration {
	return max(f.D, 0)
}

// Percentile is a latency-aware Trigger: it fires the hedge once the attempt
// has run longer than the key's recent latency at percentile P, i.e. when the
// attempt is already slower than (100-P)% of recent calls.
//
// Until the source holds MinSamples samples (or when src is nil, or P is not
// in (0, 100)), it answers Fallback instead. Every answer, the fallback
// included, is then bounded to [Min, Max], where 0 means unbounded; if Max <
// Min, Min wins, as firing late is cheaper than firing too early.
type Percentile struct {
	// P is the percentile, 0 < P < 100 (95 means p95).
	P float64
	// MinSamples is the sample count below which the source is not trusted
	// (0 = DefaultMinSamples).
	MinSamples int
	// Fallback is the delay used while the source is not trusted.
	Fallback time.Duration
	// Min and Max bound the answer; 0 = unbounded.
	Min, Max time.Duration
}

// Delay returns the source's latency at p.P (or p.Fallback, see
// [Percentile]) bounded to [p.Min, p.Max].
func (p Percentile) Delay(src LatencySource, now time.Time) time.Duration {
	d := p.Fallback
	if src != nil && p.P > 0 && p.P < 100 { // false for NaN too
		need := int64(p.MinSamples)
		if need <= 0 {
			need = DefaultMinSamples
		}
		if q, n := src.Quantile(p.P, now); n >= need {
			d = q
		}
	}
	return bound(d, p.Min, p.Max)
}

// bound clamps d to [lo, hi] with hi == 0 meaning unbounded; lo wins over a
// smaller hi, and the result is never negative.
func bound(d, lo, hi time.Duration) time.Duration {
	if hi > 0 {
		d = min(d, hi)
	}
	return max(d, lo, 0)
}
