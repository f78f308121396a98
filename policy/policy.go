package policy

import "time"

// Policy says how calls for one key are retried, hedged and bounded in time.
//
// Zero fields mean "use the default" (see Default) or "off", as each field's
// comment says, so a literal only needs the fields it changes:
//
//	policy.Policy{Retry: policy.Retry{MaxAttempts: 5}, Timeout: 2 * time.Second}
//
// A Policy is a plain value: copy it freely. The engine only ever uses
// Normalize()d policies; Validate reports what Normalize would silently fix
// or what is outright wrong.
type Policy struct {
	Retry      Retry
	Hedge      Hedge
	Timeout    time.Duration // whole call, all attempts; 0 = only the caller's ctx
	Classifier string        // registry name; "" = default
	// RetryBudget and HedgeBudget name budgets in the engine's registry;
	// "" = the key's own default budget.
	RetryBudget, HedgeBudget string
	Breaker                  Breaker // per-key circuit breaker; zero = off (JSON "breaker")
}

// Retry configures sequential retries with exponential backoff.
type Retry struct {
	MaxAttempts    int           // total, first attempt included; 1 = no retries; 0 = default (3)
	InitialBackoff time.Duration // wait before the first retry, before jitter; 0 = default (100ms)
	MaxBackoff     time.Duration // cap on any one wait, before jitter; 0 = default (5s)
	Multiplier     float64       // growth of the wait per retry; 0 = default (2)
	Jitter         Jitter        // zero value = JitterFull
	AttemptTimeout time.Duration // per attempt; 0 = none; never beyond the overall deadline
	MaxRetryAfter  time.Duration // cap on server pushback (classify.RetryAfter); 0 = default (30s)
}

// Hedge configures hedged requests: extra concurrent attempts started when
// the first is slow; the first success wins and the others are cancelled.
type Hedge struct {
	MaxHedges int           // extra attempts beyond the first; 0 = no hedging
	Delay     time.Duration // fixed trigger, and the fallback of a percentile trigger; required when MaxHedges > 0
	// Percentile > 0 enables a latency-aware trigger: hedge once an attempt
	// has run longer than this percentile (0 < p < 100) of the key's
	// recent latencies. 0 = fixed Delay.
	Percentile float64
	MinSamples int // below this many recent samples, use Delay; 0 = default (100) when Percentile > 0
	// MinDelay and MaxDelay clamp the percentile trigger; 0 = no bound.
	MinDelay, MaxDelay time.Duration
}

// Breaker configures a key's circuit breaker. While the share of the key's
// attempts that failed (classified Retryable) over the last Window reaches
// FailureRate, and at least MinCalls attempts were seen, the breaker opens:
// calls fail at once, without running the op, for OpenDuration. It then lets
// HalfOpenProbes trial calls through, one attempt each; if they all succeed
// it closes, and the first that fails opens it again.
//
// The zero value is off. FailureRate turns it on; the other fields then
// default as their comments say.
type Breaker struct {
	FailureRate    float64       // percent of failed attempts that opens the breaker, (0, 100]; 0 = off
	MinCalls       int           // attempts in the window before the rate counts; 0 = default (20)
	Window         time.Duration // how long attempts count; 0 = default (10s); at least 10ms
	OpenDuration   time.Duration // how long calls are refused once open; 0 = default (10s)
	HalfOpenProbes int           // trial calls that must succeed to close again; 0 = default (3)
}

// Enabled reports whether the breaker is on (FailureRate > 0).
func (b Breaker) Enabled() bool { return b.FailureRate > 0 }

// Limits applied by Normalize: larger values are capped, not rejected.
// Each extra attempt multiplies load on a struggling backend, so the caps are
// deliberately low.
const (
	MaxAttemptsLimit = 10 // Normalize caps Retry.MaxAttempts here
	MaxHedgesLimit   = 5  // Normalize caps Hedge.MaxHedges here
)

// Limits applied by Validate: values beyond them are rejected as mistakes
// (a unit typo, a missing decimal point) rather than capped.
const (
	maxDuration          = 24 * time.Hour
	maxDurationText      = "24h"
	maxAttemptsAccepted  = 1000
	maxHedgesAccepted    = 100
	maxMultiplier        = 100
	maxMinSamples        = 1_000_000
	maxRegistryNameBytes = 128
	maxMinCalls          = 1_000_000
	maxHalfOpenProbes    = 1000
	minBreakerWindow     = 10 * time.Millisecond
	minBreakerWindowText = "10ms"
)

// Defaults filled in by Normalize.
const (
	defaultMaxAttempts    = 3
	defaultInitialBackoff = 100 * time.Millisecond
	defaultMaxBackoff     = 5 * time.Second
	defaultMultiplier     = 2
	defaultMaxRetryAfter  = 30 * time.Second
	defaultMinSamples     = 100

	defaultMinCalls       = 20
	defaultBreakerWindow  = 10 * time.Second
	defaultOpenDuration   = 10 * time.Second
	defaultHalfOpenProbes = 3
)

// Default returns the conservative policy used for every zero field: 3
// attempts, backoff from 100ms doubling up to 5s with full jitter, server
// pushback honoured up to 30s, no per-attempt timeout, no hedging, no
// overall timeout beyond the caller's context.
func Default() Policy {
	return Policy{
		Retry: Retry{
			MaxAttempts:    defaultMaxAttempts,
			InitialBackoff: defaultInitialBackoff,
			MaxBackoff:     defaultMaxBackoff,
			Multiplier:     defaultMultiplier,
			Jitter:         JitterFull,
			MaxRetryAfter:  defaultMaxRetryAfter,
		},
	}
}
