package engine

import (
	"fmt"
	"log/slog"
	"reflect"
	"time"

	"github.com/regoresilience/rego/budget"
	"github.com/regoresilience/rego/classify"
	"github.com/regoresilience/rego/controlplane"
	"github.com/regoresilience/rego/observe"
	"github.com/regoresilience/rego/policy"
	"github.com/regoresilience/rego/scheduler"
)

// Option configures an Engine. Options are applied in order by New; an invalid
// option makes New return an error wrapping ErrInvalidOption.
type Option func(*config) error

// config is filled by the options and read-only once New returns.
type config struct {
	provider      controlplane.Provider
	observers     []observe.Observer
	classifiers   []namedClassifier
	budgets       []namedBudget
	defaultPolicy policy.Policy
	clock         scheduler.Clock
	tick          time.Duration
	logger        *slog.Logger
	missingBudget FailureMode
	invalidKeys   InvalidKeyMode
	random        func() uint64
	maxKeys       int
	idleTimeout   time.Duration
	keyBudgetsSet bool
	retryBudget   func() budget.Budget
	hedgeBudget   func() budget.Budget
	attemptHook   AttemptHook
}

type namedClassifier struct {
	name string
	c    classify.Classifier
}

type namedBudget struct {
	name string
	b    budget.Budget
}

// FailureMode says what a call does when its policy names a component (a budget)
// that is not registered. Either way the fallback is recorded on the timeline.
type FailureMode uint8

const (
	// FailOpen behaves as if the missing budget always allowed the attempt.
	FailOpen FailureMode = iota
	// FailClosed behaves as if the missing budget always refused the attempt.
	FailClosed
)

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalidOption}, args...)...)
}

// WithProvider sets where policies come from. Without it every key runs the
// default policy (see WithDefaultPolicy).
func WithProvider(p controlplane.Provider) Option {
	return func(c *config) error {
		if p == nil {
			return invalid("nil provider")
		}
		c.provider = p
		return nil
	}
}

// WithObserver adds an observer. It may be given several times; observers are
// called in the order they were given.
func WithObserver(o observe.Observer) Option {
	return func(c *config) error {
		if o == nil {
			return invalid("nil observer")
		}
		c.observers = append(c.observers, o)
		return nil
	}
}

// WithClassifier registers a classifier under name, for policies that name it in
// their Classifier field. The name follows policy.ValidateName (the rule a
// policy document's names follow) and may be given once.
func WithClassifier(name string, cl classify.Classifier) Option {
	return func(c *config) error {
		if err := policy.ValidateName(name); err != nil {
			return invalid("classifier: %w", err)
		}
		if isNilValue(cl) {
			return invalid("classifier %q is nil", name)
		}
		c.classifiers = append(c.classifiers, namedClassifier{name, cl})
		return nil
	}
}

// WithBudget registers a shared budget under name, for policies that name it in
// their RetryBudget or HedgeBudget field. The name follows
// policy.ValidateName and may be given once.
func WithBudget(name string, b budget.Budget) Option {
	return func(c *config) error {
		if err := policy.ValidateName(name); err != nil {
			return invalid("budget: %w", err)
		}
		if isNilValue(b) {
			return invalid("budget %q is nil", name)
		}
		c.budgets = append(c.budgets, namedBudget{name, b})
		return nil
	}
}

// WithDefaultPolicy sets the policy used by keys that no provider pattern matches.
// Zero fields take rego's conservative defaults (policy.Default).
func WithDefaultPolicy(p policy.Policy) Option {
	return func(c *config) error {
		if err := p.Validate(); err != nil {
			return invalid("default policy: %w", err)
		}
		c.defaultPolicy = p.Normalize()
		return nil
	}
}

// WithClock replaces the system clock, for tests. The scheduler and every
// deadline and backoff use it.
func WithClock(clk scheduler.Clock) Option {
	return func(c *config) error {
		if clk == nil {
			return invalid("nil clock")
		}
		c.clock = clk
		return nil
	}
}

// WithSchedulerTick sets the timer wheel's tick (default 1ms): timers fire at most
// about one tick late, never early, except a round's first hedge trigger, a
// coarse timer (scheduler.ScheduleCoarseNode) that may fire about two ticks late.
func WithSchedulerTick(d time.Duration) Option {
	return func(c *config) error {
		if d <= 0 || d > time.Second {
			return invalid("scheduler tick %v: must be in (0, 1s]", d)
		}
		c.tick = d
		return nil
	}
}

// WithLogger sets where the engine reports its warnings (a missing classifier,
// too many keys, invalid keys under InvalidKeyOverflow). Default:
// slog.Default().
func WithLogger(l *slog.Logger) Option {
	return func(c *config) error {
		if l == nil {
			return invalid("nil logger")
		}
		c.logger = l
		return nil
	}
}

// WithMissingBudget sets what a retry or hedge does when its policy names a budget
// that was never registered (default FailOpen).
func WithMissingBudget(m FailureMode) Option {
	return func(c *config) error {
		if m != FailOpen && m != FailClosed {
			return invalid("failure mode %d", m)
		}
		c.missingBudget = m
		return nil
	}
}

// String returns "fail-open" or "fail-closed".
func (m FailureMode) String() string {
	if m == FailClosed {
		return "fail-closed"
	}
	return "fail-open"
}

// WithMaxKeys caps how many distinct keys get their own worker, budgets and
// latency tracker (default 10,000). Past it, new keys share one overflow worker
// running the default policy; a warning is logged once and each such call
// records a fallback event. (Keys that fail Key.Validate are a different
// case: see WithInvalidKeys.)
func WithMaxKeys(n int) Option {
	return func(c *config) error {
		if n < 1 {
			return invalid("max keys %d: must be >= 1", n)
		}
		c.maxKeys = n
		return nil
	}
}

// WithIdleTimeout sets how long a key may go unused before its worker (budgets,
// latency tracker) is evicted; the next call recreates it. Default 5 minutes.
func WithIdleTimeout(d time.Duration) Option {
	return func(c *config) error {
		if d < 10*time.Millisecond {
			return invalid("idle timeout %v: must be at least 10ms", d)
		}
		c.idleTimeout = d
		return nil
	}
}

// WithKeyBudgets replaces the budgets every key gets of its own when its policy
// names none. Each func builds one key's budget; a nil func disables that kind
// (unlimited retries or hedges, bounded only by the policy). By default a key's
// retry budget allows 10% of its recent calls plus 10 retries a second, and its
// hedge budget 10% plus 1 a second (see budget.DefaultRetry, budget.DefaultHedge).
func WithKeyBudgets(retry, hedge func() budget.Budget) Option {
	return func(c *config) error {
		c.keyBudgetsSet = true
		c.retryBudget, c.hedgeBudget = retry, hedge
		return nil
	}
}

// InvalidKeyMode says what a call does when its key fails policy.Key.Validate
// (a typo, a key carrying request data): see WithInvalidKeys.
type InvalidKeyMode uint8

const (
	// InvalidKeyReject, the default, fails such a call at once, before op
	// runs, with the *policy.KeyError (errors.Is(err, policy.ErrInvalidKey)),
	// which names the key and the rule it broke. A typo in a key then shows
	// up on its first call instead of silently running the default policy.
	InvalidKeyReject InvalidKeyMode = iota
	// InvalidKeyOverflow runs such a call under the default policy on the
	// shared overflow worker (the one WithMaxKeys sends keys past the cap
	// to), with a fallback event on its timeline. Each distinct invalid key
	// is logged at Warn level, at most invalidKeyWarnings a minute.
	InvalidKeyOverflow
)

// String returns "reject" or "overflow".
func (m InvalidKeyMode) String() string {
	if m == InvalidKeyOverflow {
		return "overflow"
	}
	return "reject"
}

// WithInvalidKeys sets what a call whose key fails policy.Key.Validate does
// (default InvalidKeyReject: it fails fast without running op).
func WithInvalidKeys(m InvalidKeyMode) Option {
	return func(c *config) error {
		if m != InvalidKeyReject && m != InvalidKeyOverflow {
			return invalid("invalid key mode %d", m)
		}
		c.invalidKeys = m
		return nil
	}
}

// isNilValue reports whether v is nil or a typed nil pointer, func or map in
// an interface (a nil *Ratio given as a Budget).
func isNilValue(v any) bool {
	if v == nil {
		return true
	}
	switch rv := reflect.ValueOf(v); rv.Kind() {
	case reflect.Pointer, reflect.Map, reflect.Func, reflect.Chan, reflect.Slice, reflect.Interface:
		return rv.IsNil()
	}
	return false
}
