package stress

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/regoresilience/rego/classify"
	"github.com/regoresilience/rego/engine"
	"github.com/regoresilience/rego/policy"
)

// problems collects what the checks of one call found wrong.
type problems []string

func (p *problems) add(format string, args ...any) {
	*p = append(*p, fmt.Sprintf(format, args...))
}

// callView is one finished call and what the checks derive from it. It is
// built once every op of the scenario has returned, and only read after.
type callView struct {
	*callRec
	w       *world
	pol     *policy.Policy
	tick    time.Duration
	invs    []invocation       // by attempt index
	byIndex map[int]invocation // attempt index -> invocation
	doneAt  time.Time          // when the caller's ctx ended, if done
	done    bool               // the caller's ctx ended before the call returned (or at that instant)
	closeAt time.Time          // when the engine was closed during the scenario (zero = not)
	closed  bool               // Close happened before the call returned (or at that instant)
	p       problems
}

// checkCall checks one finished call against the invariants. closeAt is when
// the engine was closed during the calls (zero if it was not).
func (w *world) checkCall(c *callRec, closeAt time.Time) problems {
	cancelAt, invs := c.snapshot()
	v := &callView{callRec: c, w: w, pol: &c.spec.pol, tick: w.tick, invs: invs,
		byIndex: map[int]invocation{}, closeAt: closeAt}
	for _, inv := range invs {
		v.byIndex[inv.info.Index] = inv
	}
	v.doneAt, v.done = c.doneAt(cancelAt)
	v.closed = !closeAt.IsZero() && !closeAt.After(c.returnAt)

	if v.madeAfterClose() {
		return v.p
	}
	for _, inv := range invs {
		v.checkAttempt(inv)
	}
	v.checkRounds()
	v.checkEnding()
	v.checkResult()
	v.checkHedgeTriggers()
	v.checkTimeline()
	return v.p
}

// doneAt returns when the caller's context ended, if it did before the call
// returned (at the same instant included).
func (c *callRec) doneAt(cancelAt time.Time) (time.Time, bool) {
	switch c.ctxKind {
	case ctxTimeout:
		if !c.returnAt.Before(c.ctxDeadline) {
			return c.ctxDeadline, true
		}
	case ctxCancel, ctxPreCancel:
		if !cancelAt.IsZero() && !cancelAt.After(c.returnAt) {
			return cancelAt, true
		}
	}
	return time.Time{}, false
}

// ctxErrWant is the error the caller's context reports once done.
func (c *callRec) ctxErrWant() error {
	if c.ctxKind == ctxTimeout {
		return context.DeadlineExceeded
	}
	return context.Canceled
}

// madeAfterClose checks a call made after Close: it fails at once with
// ErrClosed, before anything else happens. It reports whether the call was one.
func (v *callView) madeAfterClose() bool {
	if v.closeAt.IsZero() || v.start.Before(v.closeAt) {
		return false
	}
	if v.start.Equal(v.closeAt) && v.err != engine.ErrClosed {
		return false // made at the instant of Close, and ran before it
	}
	if v.err != engine.ErrClosed || v.panicked || len(v.invs) > 0 {
		v.p.add("call made after Close: err %v, panicked %v, %d attempts; want ErrClosed and none", v.err, v.panicked, len(v.invs))
	}
	if _, seen := v.w.obs.lookup(v.id); seen {
		v.p.add("call made after Close reached the observer")
	}
	return true
}

// checkAttempt checks one op invocation: what its context said and when it ran.
func (v *callView) checkAttempt(inv invocation) {
	p, idx := &v.p, inv.info.Index
	if !inv.infoOK {
		p.add("an attempt ran without AttemptInfo in its ctx")
		return
	}
	if inv.info.Key != v.spec.key {
		p.add("#%d: AttemptInfo key %s, want %s", idx, inv.info.Key, v.spec.key)
	}
	if !inv.done {
		p.add("#%d: op still running after the scenario ended", idx)
	}
	if inv.hasDeadline != !inv.info.Deadline.IsZero() || !inv.ctxDeadline.Equal(inv.info.Deadline) {
		p.add("#%d: ctx.Deadline() = %v,%v but AttemptInfo.Deadline = %v", idx, inv.ctxDeadline, inv.hasDeadline, inv.info.Deadline)
	}
	// Invariant 2: the attempt's deadline never exceeds the call's; it is
	// exactly min(call deadline, start+AttemptTimeout).
	if !v.deadline.IsZero() {
		if !inv.hasDeadline {
			p.add("#%d: invariant 2: attempt has no deadline, the call's is %s", idx, v.rel(v.deadline))
		} else if inv.ctxDeadline.After(v.deadline) {
			p.add("#%d: invariant 2: attempt deadline %s is past the call's %s", idx, v.rel(inv.ctxDeadline), v.rel(v.deadline))
		}
	}
	want := v.deadline
	if at := v.pol.Retry.AttemptTimeout; at > 0 {
		if ad := inv.start.Add(at); want.IsZero() || ad.Before(want) {
			want = ad
		}
	}
	if !want.Equal(inv.ctxDeadline) {
		p.add("#%d: attempt deadline %s, want min(call deadline, start+AttemptTimeout) = %s", idx, v.rel(inv.ctxDeadline), v.rel(want))
	}
	// Invariant 2, enforced: an op honouring ctx is interrupted at most a tick
	// after its deadline.
	if inv.hasDeadline && inv.end.After(inv.ctxDeadline.Add(v.tick)) {
		if v.closed && v.closeAt.Before(inv.end) {
			p.add("#%d: attempt ran until %s, past its deadline %s plus a tick (Close at %s)", idx, v.rel(inv.end), v.rel(inv.ctxDeadline), v.rel(v.closeAt))
		} else {
			p.add("#%d: invariant 2: attempt ran until %s, past its deadline %s plus a tick", idx, v.rel(inv.end), v.rel(inv.ctxDeadline))
		}
	}
	// An attempt starting after the call's deadline could only fail.
	if !v.deadline.IsZero() && inv.start.After(v.deadline) {
		if inv.info.Hedge {
			p.add("#%d: hedge started at %s, after the call's deadline %s", idx, v.rel(inv.start), v.rel(v.deadline))
		} else {
			p.add("#%d: retry started at %s, after the call's deadline %s", idx, v.rel(inv.start), v.rel(v.deadline))
		}
	}
	// Invariant 1: no attempt starts after the caller's ctx is done.
	if v.done && inv.start.After(v.doneAt) {
		p.add("#%d: invariant 1: attempt started at %s, after the caller's ctx was done at %s", idx, v.rel(inv.start), v.rel(v.doneAt))
	}
	if v.closed && inv.start.After(v.closeAt) {
		p.add("#%d: attempt started at %s, after Close at %s", idx, v.rel(inv.start), v.rel(v.closeAt))
	}
}

// checkRounds checks the shape of the attempts: indices unique, MaxAttempts
// bounds the rounds, MaxHedges the hedges of each.
func (v *callView) checkRounds() {
	rounds, hedges := 0, 0
	for i, inv := range v.invs {
		if i > 0 && inv.info.Index == v.invs[i-1].info.Index {
			v.p.add("attempt index #%d ran twice", inv.info.Index)
		}
		if inv.info.Hedge {
			hedges++
			if i == 0 {
				v.p.add("attempt #%d, the first, is a hedge", inv.info.Index)
			}
			if hedges > v.pol.Hedge.MaxHedges {
				v.p.add("#%d: hedge %d of its round, MaxHedges is %d", inv.info.Index, hedges, v.pol.Hedge.MaxHedges)
			}
		} else {
			rounds++
			hedges = 0
		}
	}
	if rounds > v.pol.Retry.MaxAttempts {
		v.p.add("%d rounds, MaxAttempts is %d", rounds, v.pol.Retry.MaxAttempts)
	}
}

// checkEnding checks when the call returned: within a tick of its caller's
// ctx ending (invariant 1), of its deadline (invariant 2), of Close.
func (v *callView) checkEnding() {
	p := &v.p
	if v.done {
		if late := v.returnAt.Sub(v.doneAt); late > v.tick {
			p.add("invariant 1: returned %v after the caller's ctx was done (tick %v)", late, v.tick)
		}
		if v.returnAt.After(v.doneAt) && !v.panicked {
			if ee := asError(v.err); ee == nil || ee.Reason != engine.StopCanceled || !errors.Is(v.err, v.ctxErrWant()) {
				p.add("invariant 1: ctx done at %s, call returned at %s with %v; want reason %q wrapping %v",
					v.rel(v.doneAt), v.rel(v.returnAt), v.err, engine.StopCanceled, v.ctxErrWant())
			}
		}
	}
	if v.ctxKind == ctxPreCancel && (len(v.invs) > 0 || !errors.Is(v.err, context.Canceled)) {
		p.add("ctx cancelled before the call: %d attempts, err %v; want none and context.Canceled", len(v.invs), v.err)
	}
	if !v.deadline.IsZero() && v.returnAt.After(v.deadline.Add(v.tick)) {
		if v.closed && v.closeAt.Before(v.returnAt) {
			p.add("returned at %s, past the call's deadline %s plus a tick (Close at %s)", v.rel(v.returnAt), v.rel(v.deadline), v.rel(v.closeAt))
		} else {
			p.add("invariant 2: returned at %s, past the call's deadline %s plus a tick", v.rel(v.returnAt), v.rel(v.deadline))
		}
	}
	// Close ends a call at once, but for the attempts running at that moment,
	// which Close does not interrupt.
	if v.closed && v.closeAt.After(v.start) {
		settle := v.closeAt
		for _, inv := range v.invs {
			if !inv.start.After(v.closeAt) && inv.end.After(settle) {
				settle = inv.end
			}
		}
		if late := v.returnAt.Sub(settle); late > v.tick {
			p.add("returned %v after Close and the attempts running at Close had ended (tick %v)", late, v.tick)
		}
	}
}

// checkResult checks what the call returned, or the panic it re-raised.
func (v *callView) checkResult() {
	p := &v.p
	switch {
	case v.panicked:
		pv, ok := v.panicVal.(panicValue)
		if !ok || pv.call != v.id {
			p.add("re-raised panic %v is not this call's op's", v.panicVal)
		} else if inv, ok := v.byIndex[pv.index]; !ok || !inv.panicked {
			p.add("re-raised panic of attempt #%d, which did not panic", pv.index)
		}
	case v.err == nil:
		ok := false
		for _, inv := range v.invs {
			ok = ok || inv.done && !inv.panicked && inv.err == nil
		}
		if !ok {
			p.add("call succeeded but no attempt did")
		}
		if v.gotVal {
			if inv, ok := v.byIndex[v.val.index]; v.val.call != v.id || !ok || inv.err != nil || inv.panicked {
				p.add("DoValue returned %+v, not the value of a successful attempt of this call", v.val)
			}
		}
	default:
		v.checkError()
	}
	if !v.panicked {
		for _, inv := range v.invs {
			if inv.panicked && inv.end.Before(v.returnAt) {
				p.add("#%d panicked at %s, before the call returned at %s, but the call did not panic", inv.info.Index, v.rel(inv.end), v.rel(v.returnAt))
			}
		}
	}
}

// checkError checks a failed call's error: an *engine.Error whose reason
// matches what happened and which wraps the deciding attempt's error.
func (v *callView) checkError() {
	p := &v.p
	ee := asError(v.err)
	if ee == nil {
		p.add("error %T %v is not an *engine.Error", v.err, v.err)
		return
	}
	if ee.Key != v.spec.key {
		p.add("Error.Key %s, want %s", ee.Key, v.spec.key)
	}
	if ee.Attempts != len(v.invs) {
		p.add("Error.Attempts = %d, but %d attempts ran", ee.Attempts, len(v.invs))
	}
	// opErr checks that Error.Err is what one of this call's attempts returned.
	opErr := func() (invocation, bool) {
		var oe *opError
		if ee.Err == nil || !errors.As(ee.Err, &oe) || oe.call != v.id {
			p.add("reason %s: Error.Err %v is not an error of this call's op", ee.Reason, ee.Err)
			return invocation{}, false
		}
		inv, ok := v.byIndex[oe.index]
		if !ok || inv.err != ee.Err {
			p.add("reason %s: Error.Err %v is not what attempt #%d returned (%v)", ee.Reason, ee.Err, oe.index, inv.err)
			return invocation{}, false
		}
		if !errors.Is(v.err, oe) {
			p.add("errors.Is(err, the op's error) = false for %v", v.err)
		}
		return inv, true
	}
	switch ee.Reason {
	case engine.StopAbort:
		if inv, ok := opErr(); ok {
			var pe *classify.PermanentError
			if inv.planned != outPermanent || inv.interrupted || !errors.As(v.err, &pe) {
				p.add("reason abort, but attempt #%d was not a permanent failure", inv.info.Index)
			}
		}
	case engine.StopAttempts, engine.StopDeadline, engine.StopBudget:
		if inv, ok := opErr(); ok {
			if inv.planned == outPermanent && !inv.interrupted {
				p.add("reason %s, but the deciding attempt #%d failed permanently", ee.Reason, inv.info.Index)
			}
			if v.pol.Hedge.MaxHedges == 0 && inv.info.Index != len(v.invs)-1 {
				p.add("reason %s: Error.Err is attempt #%d's, not the last one's (#%d)", ee.Reason, inv.info.Index, len(v.invs)-1)
			}
		}
		if ee.Reason == engine.StopAttempts {
			rounds := 0
			for _, inv := range v.invs {
				if !inv.info.Hedge {
					rounds++
				}
			}
			if rounds != v.pol.Retry.MaxAttempts {
				p.add("reason exhausted after %d rounds, MaxAttempts is %d", rounds, v.pol.Retry.MaxAttempts)
			}
		}
	case engine.StopCanceled:
		if ee.Err != nil {
			opErr()
		}
		if !v.done {
			p.add("reason canceled, but the caller's ctx was not done when the call returned")
		}
		if !errors.Is(v.err, v.ctxErrWant()) || ee.Cause == nil {
			p.add("reason canceled: errors.Is(err, %v) = false (cause %v)", v.ctxErrWant(), ee.Cause)
		}
	case engine.StopClosed:
		if ee.Err != nil {
			opErr()
		}
		if !v.closed {
			p.add("reason closed, but the engine was not closed")
		}
		if !errors.Is(v.err, engine.ErrClosed) {
			p.add("reason closed: errors.Is(err, ErrClosed) = false")
		}
	default:
		p.add("unexpected reason %q", ee.Reason)
	}
}

func asError(err error) *engine.Error {
	var ee *engine.Error
	if errors.As(err, &ee) {
		return ee
	}
	return nil
}

// rel formats t relative to the call's start.
func (c *callRec) rel(t time.Time) string {
	if t.IsZero() {
		return "none"
	}
	return "+" + t.Sub(c.start).String()
}
