package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"

	"github.com/regoresilience/rego/budget"
	"github.com/regoresilience/rego/classify"
	"github.com/regoresilience/rego/controlplane"
	"github.com/regoresilience/rego/internal/keyworker"
	"github.com/regoresilience/rego/observe"
	"github.com/regoresilience/rego/policy"
	"github.com/regoresilience/rego/scheduler"
)

// Engine runs operations under the policy of their key: retries with jittered
// backoff, timeouts, budgets, hedging, timelines and observers.
//
// An Engine is safe for concurrent use; create one per process (or use the rego
// package's default) and Close it when done. The zero value is not usable: call New.
type Engine struct {
	// Read-only after New.
	clock       scheduler.Clock
	sched       *scheduler.Scheduler
	provider    controlplane.Provider
	obs         observe.Observer // nil when no observer was given
	hook        AttemptHook      // nil when none was given (attempthook.go)
	classifiers map[string]classify.Classifier
	budgets     map[string]budget.Budget
	defaults    policy.Policy
	logger      *slog.Logger
	missing     FailureMode
	invalidKeys InvalidKeyMode
	random      func() uint64

	pool    *keyworker.Pool[keyPolicy] // the per-key workers: resolved policies, budgets, latency trackers
	coarse  *coarseClock               // the key budgets' clock; nil when a clock was injected
	warned  sync.Map                   // one-off warnings already logged (message -> struct{})
	badKeys badKeyLog                  // warnings about invalid keys (InvalidKeyOverflow)

	closed    atomic.Bool
	done      chan struct{} // closed by Close: wakes every backoff wait
	closeOnce sync.Once
}

// New returns an Engine configured by opts. It starts the shared timer wheel.
func New(opts ...Option) (*Engine, error) {
	cfg := config{defaultPolicy: policy.Default().Normalize()}
	for _, o := range opts {
		if o == nil {
			return nil, invalid("nil option")
		}
		if err := o(&cfg); err != nil {
			return nil, err
		}
	}
	e := &Engine{
		provider:    cfg.provider,
		classifiers: map[string]classify.Classifier{},
		budgets:     map[string]budget.Budget{},
		defaults:    cfg.defaultPolicy,
		logger:      cfg.logger,
		missing:     cfg.missingBudget,
		invalidKeys: cfg.invalidKeys,
		random:      cfg.random,
		hook:        cfg.attemptHook,
		done:        make(chan struct{}),
	}
	if e.logger == nil {
		e.logger = slog.Default()
	}
	if e.random == nil {
		e.random = rand.Uint64
	}
	// The names are checked by the options; a name given twice is an error
	// rather than a silent replacement.
	for _, nc := range cfg.classifiers {
		if _, dup := e.classifiers[nc.name]; dup {
			return nil, invalid("classifier %q registered twice", nc.name)
		}
		e.classifiers[nc.name] = nc.c
	}
	for _, nb := range cfg.budgets {
		if _, dup := e.budgets[nb.name]; dup {
			return nil, invalid("budget %q registered twice", nb.name)
		}
		e.budgets[nb.name] = nb.b
	}
	if e.provider == nil {
		e.provider = controlplane.NewStatic(nil)
	} else if le := (*controlplane.LoadError)(nil); errors.As(e.provider.Status().LastError, &le) && le.Origin == controlplane.OriginStatic {
		// A static provider cannot recover: a typo in code should fail at start.
		return nil, invalid("static policies: %w", le)
	}
	switch len(cfg.observers) {
	case 0:
	case 1:
		e.obs = cfg.observers[0]
	default:
		e.obs = observe.Fanout(cfg.observers...)
	}
	schedOpts := []scheduler.Option{}
	if cfg.clock != nil {
		schedOpts = append(schedOpts, scheduler.WithClock(cfg.clock))
	}
	if cfg.tick > 0 {
		schedOpts = append(schedOpts, scheduler.WithTick(cfg.tick))
	}
	sched, err := scheduler.New(schedOpts...)
	if err != nil {
		return nil, fmt.Errorf("%w: scheduler: %w", ErrInvalidOption, err)
	}
	e.sched = sched
	e.clock = cfg.clock
	if e.clock == nil {
		e.clock = scheduler.SystemClock()
	}
	// A key's own budgets: by default a pair of Ratios counting the key's
	// first attempts once for both.
	keyBudgets := func() (r, h budget.Budget) {
		if cfg.retryBudget != nil {
			r = cfg.retryBudget()
		}
		if cfg.hedgeBudget != nil {
			h = cfg.hedgeBudget()
		}
		return r, h
	}
	if !cfg.keyBudgetsSet {
		// With an injected clock the budgets read it exactly, so that tests
		// driving a FakeClock stay deterministic.
		retry, hedge := budget.DefaultRetryConfig(e.clock.Now), budget.DefaultHedgeConfig(e.clock.Now)
		if cfg.clock == nil {
			e.coarse = newCoarseClock(e.clock)
			retry.Now, retry.UnixNanos = e.coarse.Now, e.coarse.UnixNanos
			hedge.Now, hedge.UnixNanos = e.coarse.Now, e.coarse.UnixNanos
		}
		keyBudgets = func() (budget.Budget, budget.Budget) { return mustRatioPair(retry, hedge) }
	}
	e.pool, err = keyworker.NewPool[keyPolicy](keyworker.Config{
		Scheduler: sched, Clock: e.clock, MaxKeys: cfg.maxKeys, IdleTimeout: cfg.idleTimeout,
		Budgets: keyBudgets, Logger: e.logger,
	})
	if err != nil {
		if e.coarse != nil {
			e.coarse.close()
		}
		sched.Close()
		return nil, fmt.Errorf("%w: %w", ErrInvalidOption, err)
	}
	return e, nil
}

// Close stops the engine's background goroutines and waits for them. Calls made
// after Close fail with ErrClosed; calls waiting in a backoff or for a hedge
// return at once with an error wrapping ErrClosed, and start no further attempt.
// Attempts already running that have a deadline (and watch their context) are
// cancelled; the others run to their end.
// The provider is not closed: its owner closes it. Close is idempotent.
func (e *Engine) Close() error {
	e.closeOnce.Do(func() {
		e.closed.Store(true)
		close(e.done)
		e.pool.Close()
		// Shutdown, not Close: the deadline timers of attempts still running
		// must fire (they cancel those attempts) rather than vanish.
		e.sched.Shutdown()
		if e.coarse != nil {
			e.coarse.close()
		}
	})
	return nil
}

// Do runs op under the policy of key and returns nil on success or an error
// wrapping the last attempt's error (see Error). A key that fails
// Key.Validate is refused before op runs with its *policy.KeyError
// (errors.Is(err, policy.ErrInvalidKey)), unless WithInvalidKeys says
// otherwise.
func (e *Engine) Do(ctx context.Context, key policy.Key, op func(context.Context) error) error {
	if op == nil {
		return ErrNilOp
	}
	c := call[struct{}]{opErr: op}
	_, _, err := run(e, ctx, key, &c, false)
	return err
}

// DoWithTimeline is Do, and also returns the call's timeline: every attempt,
// its outcome and timing, and every event (budget denials, fallbacks, hedges).
func (e *Engine) DoWithTimeline(ctx context.Context, key policy.Key, op func(context.Context) error) (*observe.Timeline, error) {
	if op == nil {
		return nil, ErrNilOp
	}
	c := call[struct{}]{opErr: op}
	_, tl, err := run(e, ctx, key, &c, true)
	return tl, err
}

// DoValue is Do for an operation that returns a value: it returns the value of
// the attempt that succeeded.
func DoValue[T any](e *Engine, ctx context.Context, key policy.Key, op func(context.Context) (T, error)) (T, error) {
	if op == nil {
		var zero T
		return zero, ErrNilOp
	}
	c := call[T]{opVal: op}
	v, _, err := run(e, ctx, key, &c, false)
	return v, err
}

// DoValueWithTimeline is DoValue that also returns the call's timeline.
func DoValueWithTimeline[T any](e *Engine, ctx context.Context, key policy.Key, op func(context.Context) (T, error)) (T, *observe.Timeline, error) {
	if op == nil {
		var zero T
		return zero, nil, ErrNilOp
	}
	c := call[T]{opVal: op}
	return run(e, ctx, key, &c, true)
}

// warnOnce logs msg at Warn level the first time it is seen.
func (e *Engine) warnOnce(msg string, args ...any) {
	if _, loaded := e.warned.LoadOrStore(msg, struct{}{}); !loaded {
		e.logger.Warn(msg, args...)
	}
}

// mustRatioPair builds a key's default budgets from configurations known to
// be valid.
func mustRatioPair(retry, hedge budget.RatioConfig) (budget.Budget, budget.Budget) {
	r, h, err := budget.NewRatioPair(retry, hedge)
	if err != nil {
		panic("rego: default key budgets: " + err.Error())
	}
	return r, h
}
