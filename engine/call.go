package engine

import (
	"context"
	"errors"
	"runtime"
	"runtime/debug"

	"github.com/regoresilience/rego/breaker"
	"github.com/regoresilience/rego/classify"
	"github.com/regoresilience/rego/observe"
	"github.com/regoresilience/rego/policy"
)

// ErrThrottled is the cause of a call whose first attempt was refused locally by
// an adaptive throttle named as the policy's retry budget.
var ErrThrottled = errors.New("rego: throttled by the client-side adaptive throttle")

// ErrGoexit is the PanicError value of a call whose op called runtime.Goexit
// (t.FailNow, say). In a hedge goroutine, rego then calls runtime.Goexit in
// the caller's goroutine; in the caller's own goroutine, the call's timeline
// and observers are finalized on the way out.
var ErrGoexit = errors.New("rego: the op called runtime.Goexit")

// StopThrottled is the Error.Reason of a call refused by an adaptive throttle.
const StopThrottled = "throttled"

// call holds the user's operation; exactly one field is set. Keeping both shapes
// in one generic struct lets Do and DoValue share the loop without wrapping op in
// a closure (which would cost an allocation per call).
type call[T any] struct {
	opErr func(context.Context) error
	opVal func(context.Context) (T, error)
}

func (c *call[T]) invoke(ctx context.Context) (T, error) {
	if c.opErr != nil {
		var zero T
		return zero, c.opErr(ctx)
	}
	return c.opVal(ctx)
}

// panicked carries a recovered panic to the caller's goroutine.
type panicked struct {
	value  any
	stack  []byte
	goexit bool // not a panic: a hedge's op called runtime.Goexit
}

// raise re-raises p in the caller's goroutine: a panic as a panic, a hedge's
// runtime.Goexit as runtime.Goexit (t.FailNow in a hedge ends the test
// goroutine, as it would have without rego).
func (p *panicked) raise() {
	if p.goexit {
		runtime.Goexit()
	}
	panic(p.value)
}

// invokeSafe runs op and turns a panic into a value, so that the engine can close
// the timeline and the observers before re-raising it in the caller's goroutine.
// ac, when not nil, is the attempt's context, finished however the op ends
// (runtime.Goexit included: its timer and its watch on the caller's context
// must not outlive the attempt).
//
// A normal return is told from a panic by a flag, not by recover's result,
// so that a panic(nil) under GODEBUG=panicnil=1 is a panic too. A Goexit also
// leaves the flag unset; recover cannot stop it, and the frames above never
// see p.
func (c *call[T]) invokeSafe(ctx context.Context, ac *attemptCtx) (v T, err error, p *panicked) {
	returned := false
	defer func() {
		if ac != nil {
			ac.finish()
		}
		if !returned {
			p = &panicked{value: recover(), stack: debug.Stack()}
		}
	}()
	v, err = c.invoke(ctx)
	returned = true
	return v, err, nil
}

// classifyGuarded classifies err, turning a panicking classifier into a
// recorded panic like an op's: the attempt is recorded, the timeline and the
// observers finished, then the panic re-raised. (Rounds with nothing to
// record let a classifier's panic through as it is; a hedged round's defer
// still stops its timers and hedges.)
func classifyGuarded(c classify.Classifier, ctx context.Context, err error) (v classify.Verdict, p *panicked) {
	returned := false
	defer func() {
		if !returned {
			p = &panicked{value: recover(), stack: debug.Stack()}
		}
	}()
	v = c.Classify(ctx, err)
	returned = true
	return v, nil
}

// run runs one call: it refuses what cannot run (a nil context, a closed
// engine, an invalid key), takes the fast path when there is nothing to
// record and no deadline of rego's own, and hands everything else, or a
// first round that did not succeed, to loop. It runs in the caller's
// goroutine; without hedging it starts no goroutine, takes no lock and
// allocates only the attempt context.
func run[T any](e *Engine, ctx context.Context, key policy.Key, c *call[T], wantTL bool) (T, *observe.Timeline, error) {
	var zero T
	if ctx == nil {
		return zero, nil, ErrNilContext
	}
	if e.closed.Load() {
		return zero, nil, ErrClosed
	}
	kp, err := e.keyPolicy(key)
	if err != nil {
		return zero, nil, err
	}
	p := &kp.policy
	bt, slow := breaker.Ticket{}, false
	if kp.breaker != nil { // breaker hook 1: before the first attempt; refusals and probes take the loop
		bt, slow = kp.admit()
	}
	if wantTL || e.obs != nil || e.hook != nil || p.Timeout != 0 || kp.admitter != nil || ctx.Err() != nil || slow {
		return loop(e, ctx, key, c, wantTL, kp, nil, bt)
	}
	// The common cases: nothing to record and no call deadline of rego's own
	// (the loop would have to know when the call started). The first round
	// runs with the least state; the loop takes over if it fails.
	var first round[T]
	if p.Hedge.MaxHedges == 0 && p.Retry.AttemptTimeout == 0 {
		first.v, first.err, first.pan = c.invokeSafe(&firstCtx{parent: ctx, key: key}, nil)
		first.started = 1
		if first.pan == nil {
			first.verdict = kp.classifier.Classify(ctx, first.err)
			// The deposit: a first attempt's outcome is what the retry
			// budget grants retries from.
			kp.retryBudget.Record(true, first.verdict.Outcome != classify.Retryable)
			if kp.breaker != nil { // breaker hook 3
				recordBreaker(kp.breaker, &bt, ctx, first.verdict)
			}
		}
	} else {
		cs := callState{e: e, ctx: ctx, key: key, kp: kp, p: p,
			timed: kp.learns || p.Retry.AttemptTimeout > 0, ends: kp.learns, bt: bt}
		cs.deadline, _ = ctx.Deadline()
		var rec recorder // off: no timeline, no observer
		if p.Hedge.MaxHedges > 0 {
			first = runHedged(&cs, c, &rec, 0, cs.now(), 0)
		} else {
			first = runOne(&cs, c, &rec, 0, cs.now(), 0)
		}
	}
	if first.pan == nil && first.verdict.Outcome == classify.Success {
		return first.v, nil, first.err
	}
	return loop(e, ctx, key, c, false, kp, &first, bt)
}
