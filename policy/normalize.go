package policy

import "time"

// Normalize returns p with every default filled in and every value brought
// into range, so the engine can use it without further checks:
//
//   - zero MaxAttempts, InitialBackoff, MaxBackoff, Multiplier, MaxRetryAfter
//     take their Default() values, and MinSamples becomes 100 when a
//     percentile trigger is on;
//   - MaxAttempts is capped at MaxAttemptsLimit and MaxHedges at
//     MaxHedgesLimit;
//   - MaxBackoff is raised to InitialBackoff if below it, and Hedge.MaxDelay
//     to Hedge.MinDelay (when set);
//   - a Breaker with FailureRate <= 0 is off (its other fields zeroed);
//     one that is on gets MinCalls 20, Window 10s, OpenDuration 10s and
//     HalfOpenProbes 3 for its zero fields, FailureRate capped at 100 and
//     Window raised to 10ms;
//   - AttemptTimeout is lowered to Timeout when both are set: an attempt can
//     never outlive its call;
//   - out-of-range values that Validate would reject (negative, NaN, over
//     24h, undefined Jitter, percentile outside (0,100)) become the nearest
//     safe value: the default, "off", or the limit.
//
// Normalize is idempotent: p.Normalize().Normalize() == p.Normalize().
// It does not report problems; call Validate first for that.
func (p Policy) Normalize() Policy {
	p.Retry = p.Retry.normalize()
	p.Hedge = p.Hedge.normalize()
	p.Breaker = p.Breaker.normalize()
	p.Timeout = clampDuration(p.Timeout)
	if p.Timeout > 0 && p.Retry.AttemptTimeout > p.Timeout {
		p.Retry.AttemptTimeout = p.Timeout
	}
	return p
}

func (r Retry) normalize() Retry {
	switch {
	case r.MaxAttempts <= 0:
		r.MaxAttempts = defaultMaxAttempts
	case r.MaxAttempts > MaxAttemptsLimit:
		r.MaxAttempts = MaxAttemptsLimit
	}
	r.InitialBackoff = orDefault(clampDuration(r.InitialBackoff), defaultInitialBackoff)
	r.MaxBackoff = orDefault(clampDuration(r.MaxBackoff), defaultMaxBackoff)
	r.MaxBackoff = max(r.MaxBackoff, r.InitialBackoff)
	switch m := r.Multiplier; {
	case m != m || m <= 0: // NaN, zero (default) or negative
		r.Multiplier = defaultMultiplier
	case m < 1:
		r.Multiplier = 1
	case m > maxMultiplier: // includes +Inf
		r.Multiplier = maxMultiplier
	}
	if !r.Jitter.valid() {
		r.Jitter = JitterFull
	}
	r.AttemptTimeout = clampDuration(r.AttemptTimeout)
	r.MaxRetryAfter = orDefault(clampDuration(r.MaxRetryAfter), defaultMaxRetryAfter)
	return r
}

func (h Hedge) normalize() Hedge {
	h.MaxHedges = min(max(h.MaxHedges, 0), MaxHedgesLimit)
	h.Delay = clampDuration(h.Delay)
	if p := h.Percentile; !(p > 0 && p < 100) { // also catches NaN
		h.Percentile = 0
	}
	h.MinSamples = min(max(h.MinSamples, 0), maxMinSamples)
	if h.Percentile > 0 && h.MinSamples == 0 {
		h.MinSamples = defaultMinSamples
	}
	h.MinDelay = clampDuration(h.MinDelay)
	h.MaxDelay = clampDuration(h.MaxDelay)
	if h.MaxDelay > 0 && h.MaxDelay < h.MinDelay {
		h.MaxDelay = h.MinDelay
	}
	return h
}

// normalize turns a breaker whose FailureRate is not a positive number off
// entirely (the zero value), and fills in and clamps the others.
func (b Breaker) normalize() Breaker {
	if !(b.FailureRate > 0) { // also catches NaN
		return Breaker{}
	}
	b.FailureRate = min(b.FailureRate, 100)
	if b.MinCalls <= 0 {
		b.MinCalls = defaultMinCalls
	}
	b.MinCalls = min(b.MinCalls, maxMinCalls)
	b.Window = orDefault(clampDuration(b.Window), defaultBreakerWindow)
	b.Window = max(b.Window, minBreakerWindow)
	b.OpenDuration = orDefault(clampDuration(b.OpenDuration), defaultOpenDuration)
	if b.HalfOpenProbes <= 0 {
		b.HalfOpenProbes = defaultHalfOpenProbes
	}
	b.HalfOpenProbes = min(b.HalfOpenProbes, maxHalfOpenProbes)
	return b
}

// clampDuration brings d into [0, maxDuration].
func clampDuration(d time.Duration) time.Duration { return min(max(d, 0), maxDuration) }

func orDefault(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}
