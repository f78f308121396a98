package engine

import (
	"context"
	"runtime/debug"

	"github.com/regoresilience/rego/classify"
	"github.com/regoresilience/rego/observe"
)

// AttemptHook wraps every attempt of an engine's calls: it gives the
// operation the context it runs under, and learns how each attempt ended.
// Its use is per-attempt tracing spans (integrations/regootel's
// NewAttemptHook): a span started in StartAttempt and put in the context is
// the parent of the client spans the operation starts (otelhttp, otelgrpc),
// so each retry and hedge gets a subtree of its own.
//
// For each attempt the engine calls StartAttempt once, right before the
// operation, and EndAttempt exactly once when the attempt has ended: after
// its operation returned and its error was classified, or when the
// operation (or the classifier) panicked or called runtime.Goexit. Both run
// in the goroutine that runs the operation: the caller's for the first
// attempt of a round and for retries, a hedge's own goroutine for a hedge.
// So a hedge loser that rego cancelled is ended when its operation returns,
// possibly after the call itself has returned. Calls of one attempt never
// overlap; calls of different attempts (hedges) may run concurrently.
//
// A hook that panics is not caught: its panic goes on like the operation's.
type AttemptHook interface {
	// StartAttempt returns the context the attempt's operation receives.
	// ctx is the attempt's context: its Done, Err and Deadline are the
	// attempt's, Value finds the caller's values and
	// observe.AttemptFromContext finds info. The returned context must be
	// ctx or derived from it (context.WithValue, trace.ContextWithSpan),
	// or the operation loses its deadline and cancellation; nil means ctx.
	StartAttempt(ctx context.Context, info observe.AttemptInfo) context.Context
	// EndAttempt is called once the attempt has ended, with the context
	// StartAttempt returned (so that the hook finds in it what it put
	// there) and how the attempt ended.
	EndAttempt(ctx context.Context, end AttemptEnd)
}

// AttemptEnd is how an attempt ended, as AttemptHook.EndAttempt receives it.
type AttemptEnd struct {
	// Err is the operation's error (nil on success and on a panic).
	Err error
	// Outcome and Reason are the classifier's verdict on Err, except for an
	// attempt rego cancelled (Abort, ReasonHedgeLost) and a panic (Abort,
	// "panic").
	Outcome classify.Outcome
	Reason  string
	// Canceled: rego cancelled the attempt because another attempt of its
	// round decided the call (a hedge loser).
	Canceled bool
	// Panicked: the operation or the classifier panicked or called
	// runtime.Goexit. The panic goes on; the hook only learns of it.
	Panicked bool
}

// reasonPanic is the AttemptEnd.Reason of an attempt that panicked, as on
// the timeline's AttemptRecord.
const reasonPanic = "panic"

// WithAttemptHook installs h around every attempt of the engine's calls
// (see AttemptHook). It may be given once.
//
// Cost: without a hook the engine pays one nil check per call and nothing
// else: the success path keeps its one allocation of 48 bytes. With a hook,
// every call takes the attempt loop instead of the first attempt's fast
// path (its attempt context is the larger one, 128 bytes instead of 48),
// and each attempt costs the hook's two calls and whatever they allocate.
// BenchmarkAttemptHook measures both.
func WithAttemptHook(h AttemptHook) Option {
	return func(c *config) error {
		if isNilValue(h) {
			return invalid("nil attempt hook")
		}
		if c.attemptHook != nil {
			return invalid("attempt hook given twice")
		}
		c.attemptHook = h
		return nil
	}
}

// invokeHooked is invokeSafe under the engine's attempt hook h: it starts
// the hook with the attempt's context ac, runs op with the context the hook
// returned, and returns that context for the hook's end. An op that
// panics or calls runtime.Goexit has its hook ended here (ended is then
// true); otherwise the caller ends it, with the verdict, by endHook.
//
// A panicking StartAttempt is the attempt's panic, and its hook is not
// ended: it never started (and ending it would hand EndAttempt a context
// holding the caller's values only, the caller's span among them).
func (c *call[T]) invokeHooked(h AttemptHook, ac *attemptCtx) (ctx context.Context, v T, err error, p *panicked) {
	returned, started := false, false
	defer func() {
		ac.finish()
		if !returned {
			p = &panicked{value: recover(), stack: debug.Stack()}
			if started {
				h.EndAttempt(ctx, AttemptEnd{Outcome: classify.Abort, Reason: reasonPanic,
					Canceled: ac.lost(), Panicked: true})
			}
		}
	}()
	ctx = h.StartAttempt(ac, ac.info)
	if ctx == nil {
		ctx = ac
	}
	started = true
	v, err = c.invoke(ctx)
	returned = true
	return ctx, v, err, nil
}

// endHook ends the hook of an attempt whose op returned: with the verdict
// v on err, or, when pan is not nil, the classifier's panic.
func endHook(h AttemptHook, ctx context.Context, ac *attemptCtx, err error, v classify.Verdict, pan *panicked) {
	end := AttemptEnd{Err: err, Outcome: v.Outcome, Reason: v.Reason}
	switch {
	case pan != nil:
		end.Outcome, end.Reason, end.Panicked = classify.Abort, reasonPanic, true
	case ac.lost():
		end.Outcome, end.Reason = classify.Abort, ReasonHedgeLost
	}
	end.Canceled = ac.lost()
	h.EndAttempt(ctx, end)
}
