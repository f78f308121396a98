package bench

import (
	"context"
	"errors"
	"runtime/metrics"
	"testing"
	"time"

	avast "github.com/avast/retry-go/v4"
	"github.com/cenkalti/backoff/v5"
	"github.com/failsafe-go/failsafe-go"
	"github.com/failsafe-go/failsafe-go/hedgepolicy"
	"github.com/failsafe-go/failsafe-go/retrypolicy"
	sethvargo "github.com/sethvargo/go-retry"

	"github.com/regoresilience/rego"
	"github.com/regoresilience/rego/controlplane"
	"github.com/regoresilience/rego/engine"
	"github.com/regoresilience/rego/policy"
)

// The work every implementation is configured for. Each peer gets the closest
// configuration its API allows; differences are noted where the peer is set up.
const (
	attempts       = 3                     // total attempts, first included
	initialBackoff = 10 * time.Millisecond // success and hedge cases (never slept: the op succeeds)
	maxBackoff     = time.Second
	hedgeDelay     = time.Second      // hedge case: armed on every call, never fired
	tinyBackoff    = time.Microsecond // retry case: initial = max = 1µs, no jitter
	// fineTick is rego's timer-wheel tick in the retry case's "rego-tick50us"
	// variant. rego sleeps on its shared wheel, whose default 1ms tick rounds a
	// 1µs backoff up to the next tick; the variant shows the machinery without
	// most of that rounding.
	fineTick    = 50 * time.Microsecond
	valueResult = 42 // what value-returning ops return
)

var (
	ctx = context.Background()
	// hotKey is the one key every rego call uses, parsed once.
	hotKey = rego.ParseKey("bench.Call")

	errTransient = errors.New("bench: transient failure")
	// errRetryable is errTransient marked for sethvargo/go-retry, which only
	// retries errors wrapped by RetryableError. Built once.
	errRetryable = sethvargo.RetryableError(errTransient)
)

// The operations under test: they return at once. They are functions, not
// literals inlined at the call site, and are called through func values by
// every implementation, the direct baseline included.
func okCtx(context.Context) error          { return nil }
func okPlain() error                       { return nil }
func okValue(context.Context) (int, error) { return valueResult, nil }
func okValuePlain() (int, error)           { return valueResult, nil }
func okStruct() (struct{}, error)          { return struct{}{}, nil }

// The policies, in rego's terms.
var (
	successPolicy = policy.Policy{Retry: policy.Retry{
		MaxAttempts: attempts, InitialBackoff: initialBackoff, MaxBackoff: maxBackoff, Multiplier: 2,
	}}
	hedgePolicy = policy.Policy{
		Retry: successPolicy.Retry,
		Hedge: policy.Hedge{MaxHedges: 1, Delay: hedgeDelay},
	}
	retryPolicy = policy.Policy{Retry: policy.Retry{
		MaxAttempts: attempts, InitialBackoff: tinyBackoff, MaxBackoff: tinyBackoff, Multiplier: 2,
		Jitter: policy.JitterNone,
	}}
)

// impl is one implementation of a benchmark case. setup builds whatever the
// implementation builds once (executor, policy) and returns the per-call
// function, which must be safe for concurrent use unless the case is only run
// sequentially. setup registers the teardown with tb.Cleanup.
type impl struct {
	name  string
	setup func(tb testing.TB) func() error
}

// newRego returns an executor whose only policy is p (pattern "*"), closed at
// the end of tb. It makes one call first, so that the key's worker and policy
// snapshot exist before anything is measured.
func newRego(tb testing.TB, p policy.Policy, opts ...rego.Option) *rego.Executor {
	tb.Helper()
	prov := controlplane.NewStatic(map[string]policy.Policy{"*": p})
	e, err := rego.NewExecutor(append([]rego.Option{engine.WithProvider(prov)}, opts...)...)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		e.Close()
		prov.Close()
	})
	if err := e.Do(ctx, hotKey, okCtx); err != nil {
		tb.Fatal(err)
	}
	return e
}

// failsafeRetry returns failsafe-go's retry policy for the success and hedge
// cases: 3 attempts, exponential backoff 10ms..1s (factor 2, no jitter by
// default). Policies are immutable and safe to share.
func failsafeRetry[R any]() retrypolicy.RetryPolicy[R] {
	return retrypolicy.NewBuilder[R]().WithMaxAttempts(attempts).WithBackoff(initialBackoff, maxBackoff).Build()
}

// avastSuccessOpts is retry-go's configuration for the success case: built
// once; each retry.Do applies it to a fresh config.
var avastSuccessOpts = []avast.Option{
	avast.Attempts(attempts), avast.Delay(initialBackoff), avast.MaxDelay(maxBackoff),
	avast.DelayType(avast.BackOffDelay),
}

// successImpls is the success case: 3 attempts, 10ms..1s exponential backoff,
// the op succeeds at once. Every per-call function is safe for concurrent use.
var successImpls = []impl{
	{"direct", func(testing.TB) func() error {
		op := okCtx
		return func() error { return op(ctx) }
	}},
	{"rego", func(tb testing.TB) func() error {
		e := newRego(tb, successPolicy)
		return func() error { return e.Do(ctx, hotKey, okCtx) }
	}},
	{"failsafe", func(testing.TB) func() error {
		// The executor is built once and shared: failsafe.With(rp).Run(fn) is the
		// per-call form failsafe-go's docs show, with With hoisted out of the
		// call (cheaper for failsafe-go than building it per call).
		ex := failsafe.With[any](failsafeRetry[any]())
		return func() error { return ex.Run(okPlain) }
	}},
	{"retry-go", func(testing.TB) func() error {
		// retry.Do(fn, opts...) per call, options built once.
		return func() error { return avast.Do(okPlain, avastSuccessOpts...) }
	}},
	{"backoff", func(testing.TB) func() error {
		// An ExponentialBackOff is stateful and not safe for concurrent use:
		// cenkalti/backoff builds one per call. RandomizationFactor 0 = no jitter.
		return func() error {
			b := &backoff.ExponentialBackOff{InitialInterval: initialBackoff, MaxInterval: maxBackoff, Multiplier: 2}
			_, err := backoff.Retry(ctx, okStruct, backoff.WithBackOff(b), backoff.WithMaxTries(attempts))
			return err
		}
	}},
	{"go-retry", func(testing.TB) func() error {
		// Backoffs are stateful (WithMaxRetries counts): one per call.
		return func() error {
			b := sethvargo.WithCappedDuration(maxBackoff,
				sethvargo.WithMaxRetries(attempts-1, sethvargo.NewExponential(initialBackoff)))
			return sethvargo.Do(ctx, b, okCtx)
		}
	}},
	floorImpl,
}

// floorImpl is not a library: it is floorCall, the cost of the one
// allocation and the panic guard that rego's design requires, with nothing
// else. Its row in the success table is the floor under any implementation
// of the design on the machine at hand.
var floorImpl = impl{"floor", func(testing.TB) func() error {
	return func() error { return floorCall(ctx, hotKey, okCtx) }
}}

// hedgeImpls is the hedge case: the success case's retry plus one hedge after
// 1s, which never fires because the op returns at once. Only rego and
// failsafe-go hedge.
var hedgeImpls = []impl{
	successImpls[0], // direct
	{"rego", func(tb testing.TB) func() error {
		e := newRego(tb, hedgePolicy)
		return func() error { return e.Do(ctx, hotKey, okCtx) }
	}},
	{"failsafe", func(testing.TB) func() error {
		// Retry(Hedge(fn)), as rego composes them; the executor is built once.
		ex := failsafe.With[any](failsafeRetry[any](), hedgepolicy.NewWithDelay[any](hedgeDelay))
		return func() error { return ex.Run(okPlain) }
	}},
}

// retryImpls is the retry case: the op fails once, then succeeds; the one
// backoff is 1µs without jitter. The per-call functions keep a per-setup
// counter and are for sequential use only.
//
// rego's key budgets are disabled: with its defaults a key may retry only 10%
// of its calls (plus 10 a second), and this case retries every call. The
// peers have no budget.
var retryImpls = []impl{
	{"direct", func(testing.TB) func() error {
		// The floor: the failing call and the succeeding one, no waiting.
		op := flaky(okCtx)
		return func() error {
			if err := op(ctx); err == nil {
				return errors.New("bench: flaky op succeeded first")
			}
			return op(ctx)
		}
	}},
	{"rego", func(tb testing.TB) func() error {
		e := newRego(tb, retryPolicy, engine.WithKeyBudgets(nil, nil))
		op := flaky(okCtx)
		return func() error { return e.Do(ctx, hotKey, op) }
	}},
	{"rego-tick50us", func(tb testing.TB) func() error {
		e := newRego(tb, retryPolicy, engine.WithKeyBudgets(nil, nil), engine.WithSchedulerTick(fineTick))
		op := flaky(okCtx)
		return func() error { return e.Do(ctx, hotKey, op) }
	}},
	{"failsafe", func(testing.TB) func() error {
		ex := failsafe.With[any](retrypolicy.NewBuilder[any]().
			WithMaxAttempts(attempts).WithBackoff(tinyBackoff, tinyBackoff).Build())
		op := flaky(okCtx)
		fn := func() error { return op(ctx) }
		return func() error { return ex.Run(fn) }
	}},
	{"retry-go", func(testing.TB) func() error {
		opts := []avast.Option{avast.Attempts(attempts), avast.Delay(tinyBackoff),
			avast.MaxDelay(tinyBackoff), avast.DelayType(avast.FixedDelay)}
		op := flaky(okCtx)
		fn := func() error { return op(ctx) }
		return func() error { return avast.Do(fn, opts...) }
	}},
	{"backoff", func(testing.TB) func() error {
		op := flaky(okCtx)
		fn := func() (struct{}, error) { return struct{}{}, op(ctx) }
		return func() error {
			b := &backoff.ExponentialBackOff{InitialInterval: tinyBackoff, MaxInterval: tinyBackoff, Multiplier: 2}
			_, err := backoff.Retry(ctx, fn, backoff.WithBackOff(b), backoff.WithMaxTries(attempts))
			return err
		}
	}},
	{"go-retry", func(testing.TB) func() error {
		op := flaky(okCtx)
		fn := func(ctx context.Context) error {
			if err := op(ctx); err != nil {
				return errRetryable
			}
			return nil
		}
		return func() error {
			b := sethvargo.WithMaxRetries(attempts-1, sethvargo.NewConstant(tinyBackoff))
			return sethvargo.Do(ctx, b, fn)
		}
	}},
}

// flaky wraps op so that it fails every other call, starting with the first:
// a call that retries once sees a failure, then a success. Not safe for
// concurrent use.
func flaky(op func(context.Context) error) func(context.Context) error {
	n := 0
	return func(ctx context.Context) error {
		n++
		if n%2 == 1 {
			return errTransient
		}
		return op(ctx)
	}
}

// valueImpls is the success case for operations that return a value: rego's
// generic DoValue against Do (which returns no value) and failsafe-go's Get.
// Each per-call function checks the value it got.
var valueImpls = []impl{
	{"direct", func(testing.TB) func() error {
		op := okValue
		return func() error { return checkValue(op(ctx)) }
	}},
	{"rego-Do", successImpls[1].setup},
	{"rego-DoValue", func(tb testing.TB) func() error {
		e := newRego(tb, successPolicy)
		return func() error { return checkValue(engine.DoValue(e, ctx, hotKey, okValue)) }
	}},
	{"failsafe-Get", func(testing.TB) func() error {
		ex := failsafe.With[int](failsafeRetry[int]())
		return func() error { return checkValue(ex.Get(okValuePlain)) }
	}},
}

var errWrongValue = errors.New("bench: wrong value")

func checkValue(v int, err error) error {
	if err == nil && v != valueResult {
		return errWrongValue
	}
	return err
}

// goroutinesCreated reads how many goroutines the program has created so far.
func goroutinesCreated() uint64 {
	s := []metrics.Sample{{Name: "/sched/goroutines-created:goroutines"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return s[0].Value.Uint64()
}
