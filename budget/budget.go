package budget

import (
	"errors"
	"math"
	"strconv"
	"time"
)

// Budget decides whether a call may spend one more attempt (a retry or a
// hedge). Implementations are shared by many goroutines: every method is safe
// for concurrent use, lock-free, allocation-free and never waits.
type Budget interface {
	// TryAcquire asks for one retry or hedge attempt; never waits. false = denied.
	TryAcquire() bool
	// Release ends a permit obtained from TryAcquire once that attempt has finished.
	// Only concurrency-limiting kinds count it; others ignore it. Must be called exactly once per granted permit.
	Release()
	// Record tells the budget about one finished attempt: first = it was a call's first attempt,
	// ok = the backend accepted it (success or a non-retryable answer).
	Record(first, ok bool)
}

// Admitter is implemented by budgets that can also gate FIRST attempts (the
// adaptive throttle). Admit never waits; false means the call should fail
// locally without contacting the backend.
type Admitter interface{ Admit() bool }

// Timed is implemented by every kind in this package: TryAcquire and Record
// with the current time supplied by the caller. A caller that has just read
// the clock saves a clock read, which is most of the cost of a
// time-dependent budget. (rego's engine does not use it: it gives the key
// budgets a coarse clock instead, which costs one atomic load.) now must
// come from the budget's Clock (time.Now when it is nil); kinds without a
// clock ignore it. Other Budget implementations need not implement Timed.
type Timed interface {
	TryAcquireAt(now time.Time) bool
	RecordAt(now time.Time, first, ok bool)
}

// Clock returns the current time. A nil Clock means time.Now. Budgets read
// the clock on their hot path, so it must be cheap and safe for concurrent
// use; tests inject a fake one.
type Clock func() time.Time

// ErrInvalidConfig is matched (errors.Is) by every configuration error from
// the New* constructors.
var ErrInvalidConfig = errors.New("invalid budget config")

// ConfigError describes one invalid configuration field. Constructors join
// one ConfigError per problem with errors.Join; each matches
// errors.Is(err, ErrInvalidConfig) and errors.As(err, **ConfigError).
type ConfigError struct {
	Kind  string // "ratio", "token_bucket", "concurrency" or "adaptive"
	Field string // the config field, e.g. "Percent"
	Msg   string // what is wrong, with the offending value
}

// Error returns e.g. "budget: ratio: Percent: must be >= 0, got -5".
func (e *ConfigError) Error() string {
	return "budget: " + e.Kind + ": " + e.Field + ": " + e.Msg
}

// Unwrap returns ErrInvalidConfig.
func (e *ConfigError) Unwrap() error { return ErrInvalidConfig }

// Limits on configuration values. Anything outside them is a mistake, not a
// tuning choice, and is rejected with a [ConfigError].
const (
	// MinWindow is the shortest sliding window: one bucket is Window/10, and
	// the bucket words have room for ~21 years of 1 ms buckets.
	MinWindow = 10 * time.Millisecond
	// MaxWindow is the longest sliding window.
	MaxWindow = 24 * time.Hour
	// MaxPercent caps RatioConfig.Percent (Finagle's own limit: ten retries
	// per first attempt, already more than policy.MaxAttemptsLimit allows).
	MaxPercent = 1000
	// MaxRate caps RatioConfig.MinPerSecond, TokenBucketConfig.MaxTokens and
	// TokenBucketConfig.TokenRatio.
	MaxRate = 1e6
)

// Defaults used by [DefaultRetry], [DefaultHedge] and [NewAdaptive].
const (
	DefaultRetryPercent      = 10               // DefaultRetry: retries per 100 recent calls
	DefaultRetryMinPerSecond = 10               // DefaultRetry: floor, retries per second
	DefaultHedgePercent      = 10               // DefaultHedge: hedges per 100 recent calls
	DefaultHedgeMinPerSecond = 1                // DefaultHedge: floor, hedges per second
	DefaultRatioWindow       = 10 * time.Second // DefaultRetry and DefaultHedge window
	DefaultAdaptiveK         = 2                // AdaptiveConfig.K when zero
	DefaultAdaptiveWindow    = 2 * time.Minute  // AdaptiveConfig.Window when zero
)

// DefaultRetryConfig is the configuration of [DefaultRetry]: retries may be
// 10% of the first attempts of the last 10 s, plus 10 per second.
func DefaultRetryConfig(now Clock) RatioConfig {
	return RatioConfig{Percent: DefaultRetryPercent, MinPerSecond: DefaultRetryMinPerSecond,
		Window: DefaultRatioWindow, Now: now}
}

// DefaultHedgeConfig is the configuration of [DefaultHedge]: hedges may be
// 10% of the first attempts of the last 10 s, plus 1 per second so a quiet
// key can still hedge its first calls.
func DefaultHedgeConfig(now Clock) RatioConfig {
	return RatioConfig{Percent: DefaultHedgePercent, MinPerSecond: DefaultHedgeMinPerSecond,
		Window: DefaultRatioWindow, Now: now}
}

// DefaultRetry returns a new [*Ratio] built from [DefaultRetryConfig]: the
// retry budget a key gets when its policy names none. A backend that fails
// every call then sees at most about 1.1× its first-attempt load plus 10
// retries per second.
func DefaultRetry(now Clock) Budget { return newRatio(DefaultRetryConfig(now)) }

// DefaultHedge returns a new [*Ratio] built from [DefaultHedgeConfig]: the
// hedge budget a key gets when its policy names none.
func DefaultHedge(now Clock) Budget { return newRatio(DefaultHedgeConfig(now)) }

func fmtFloat(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }

// checkFloat appends a ConfigError unless lo <= v <= hi and v is finite.
func checkFloat(errs []error, kind, field string, v, lo, hi float64) []error {
	switch {
	case math.IsNaN(v) || math.IsInf(v, 0):
		return append(errs, &ConfigError{kind, field, "must be a finite number, got " + fmtFloat(v)})
	case v < lo:
		return append(errs, &ConfigError{kind, field, "must be >= " + fmtFloat(lo) + ", got " + fmtFloat(v)})
	case v > hi:
		return append(errs, &ConfigError{kind, field, "must be <= " + fmtFloat(hi) + ", got " + fmtFloat(v)})
	}
	return errs
}

// checkWindow appends a ConfigError unless MinWindow <= w <= MaxWindow.
func checkWindow(errs []error, kind string, w time.Duration) []error {
	switch {
	case w <= 0:
		return append(errs, &ConfigError{kind, "Window", "must be > 0, got " + w.String()})
	case w < MinWindow:
		return append(errs, &ConfigError{kind, "Window", "must be at least " + MinWindow.String() + ", got " + w.String()})
	case w > MaxWindow:
		return append(errs, &ConfigError{kind, "Window", "must be at most " + MaxWindow.String() + ", got " + w.String()})
	}
	return errs
}
