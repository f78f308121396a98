package engine

import (
	"context"
	"errors"
	"runtime"
	"runtime/debug"
	"time"

	"github.com/regoresilience/rego/breaker"
	"github.com/regoresilience/rego/classify"
	"github.com/regoresilience/rego/keyworker"
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

// recorder builds the timeline and feeds the observers. Only the caller's
// goroutine uses it, which is what serializes the observer calls of one call.
type recorder struct {
	tl  *observe.Timeline // nil: nobody asked for one and no observer is installed
	obs observe.Observer
	ctx context.Context
	key policy.Key

	finished   bool // finish ran: the timeline is final and the observers were told
	inObserver bool // an observer method is running (a panic now is the observer's)
}

func (r *recorder) on() bool { return r.tl != nil }

func (r *recorder) event(ev observe.Event) {
	if r.tl != nil {
		r.tl.Events = append(r.tl.Events, ev)
	}
}

func (r *recorder) attempt(rec observe.AttemptRecord) {
	if r.tl == nil {
		return
	}
	r.tl.Attempts = append(r.tl.Attempts, rec)
	if r.obs != nil {
		r.inObserver = true
		r.obs.OnAttempt(r.ctx, r.key, rec)
		r.inObserver = false
	}
}

func (r *recorder) finish(end time.Time, err error, ok bool) {
	if r.tl == nil {
		return
	}
	r.finished = true
	r.tl.End = end
	r.tl.FinalErr = err
	if r.obs == nil {
		return
	}
	r.inObserver = true
	if ok {
		r.obs.OnSuccess(r.ctx, r.tl)
	} else {
		r.obs.OnFailure(r.ctx, r.tl)
	}
	r.inObserver = false
}

// abandon finishes a timeline whose call is leaving the loop by neither a
// return nor the re-raise of an op's recorded panic: something panicked in
// the caller's goroutine outside the op (a budget, an observer) or the op
// called runtime.Goexit. It must be called directly by a deferred function
// with what recover returned there (nil for Goexit); it re-raises a panic.
// attempt is the index of the attempt in flight when running, else of the
// next one; start is the in-flight attempt's start. When an observer was
// running, it is the observer's panic (or exit): the observers are not called
// again, and the panic goes on unchanged.
//
// recover cannot tell runtime.Goexit from a panic(nil) under
// GODEBUG=panicnil=1 (the default only for main modules older than Go 1.21,
// which cannot build rego): such a panic would be taken for a Goexit and end
// here.
func (r *recorder) abandon(rec any, now time.Time, attempt int, running bool, start time.Time) {
	if r.inObserver {
		if rec != nil {
			panic(rec)
		}
		return
	}
	val, reason, detail := rec, "panic", "panic outside the op"
	if rec == nil {
		val, reason, detail = ErrGoexit, "goexit", "the op called runtime.Goexit"
	}
	stack := debug.Stack()
	if running {
		r.attempt(observe.AttemptRecord{Index: attempt, Start: start, End: now, Outcome: classify.Abort, Reason: reason})
	}
	r.event(observe.Event{Kind: observe.EventPanic, At: now, Attempt: attempt, Detail: detail + "\n" + string(stack)})
	r.finish(now, &PanicError{Value: val, Stack: stack}, false)
	if rec != nil {
		panic(rec)
	}
}

// round is the result of one round: a single attempt, or a primary attempt and
// its hedges. verdict and err are the deciding attempt's (the winner, the
// aborting one, or the last failure).
type round[T any] struct {
	v       T
	err     error
	verdict classify.Verdict
	pan     *panicked
	started int // attempts started in the round
}

// callState is what one call's rounds share. It lives on the caller's stack.
type callState struct {
	e   *Engine
	ctx context.Context
	key policy.Key
	w   *keyworker.Worker
	s   *keyworker.Snapshot
	x   *snapExt
	p   *policy.Policy
	// The clock is read only when something needs it (a clock read costs
	// 20-100ns, the largest part of a fast call): starts for deadlines,
	// records and samples; ends for records and samples.
	timed    bool           // read the clock at attempt starts
	ends     bool           // read the clock at attempt ends
	deadline time.Time      // the call's deadline; zero = none
	own      bool           // the deadline is the policy's: attempts must end themselves
	bt       breaker.Ticket // the call's admission by the key's breaker (engine/breaker.go)
}

// attemptDeadline returns the deadline of an attempt starting at start.
func (cs *callState) attemptDeadline(start time.Time) (time.Time, bool) {
	d, own := cs.deadline, cs.own
	if t := cs.p.Retry.AttemptTimeout; t > 0 {
		if ad := start.Add(t); d.IsZero() || ad.Before(d) {
			d, own = ad, true
		}
	}
	return d, own
}

func (cs *callState) now() time.Time {
	if cs.timed {
		return cs.e.clock.Now()
	}
	return time.Time{}
}

func (cs *callState) end() time.Time {
	if cs.ends {
		return cs.e.clock.Now()
	}
	return time.Time{}
}

// account feeds a finished attempt to the key's budgets and worker.
func (cs *callState) account(index int, hedge bool, verdict classify.Verdict, start, end time.Time) {
	ok := verdict.Outcome != classify.Retryable
	cs.s.RetryBudget.Record(index == 0, ok)
	if cs.x.recordHedge {
		cs.s.HedgeBudget.Record(index == 0, ok)
	}
	if cs.x.samples {
		cs.w.Post(keyworker.Sample{Latency: end.Sub(start), OK: verdict.Outcome == classify.Success, Hedge: hedge})
	}
	if cs.x.breaker != nil { // breaker hook 3: every accounted attempt
		recordBreaker(cs.x.breaker, &cs.bt, cs.ctx, verdict)
	}
}

// run is the attempt loop. It runs in the caller's goroutine; without hedging it
// starts no goroutine, takes no lock and allocates only the attempt context.
func run[T any](e *Engine, ctx context.Context, key policy.Key, c *call[T], wantTL bool) (T, *observe.Timeline, error) {
	var zero T
	if ctx == nil {
		return zero, nil, ErrNilContext
	}
	if e.closed.Load() {
		return zero, nil, ErrClosed
	}
	w, s := e.snapshot(key)
	x := s.Ext.(*snapExt)
	p := &s.Policy
	bt, slow := breaker.Ticket{}, false
	if x.breaker != nil { // breaker hook 1: before the first attempt; refusals and probes take the loop
		bt, slow = x.admit()
	}
	if wantTL || e.obs != nil || p.Timeout != 0 || x.admitter != nil || ctx.Err() != nil || slow {
		return loop(e, ctx, key, c, wantTL, w, s, nil, bt)
	}
	// The common cases: nothing to record and no call deadline of rego's own
	// (the loop would have to know when the call started). The first round
	// runs with the least state; the loop takes over if it fails.
	var o round[T]
	if p.Hedge.MaxHedges == 0 && p.Retry.AttemptTimeout == 0 {
		o.v, o.err, o.pan = c.invokeSafe(&firstCtx{parent: ctx, key: key}, nil)
		o.started = 1
		if o.pan == nil {
			o.verdict = x.classifier.Classify(ctx, o.err)
			s.RetryBudget.Record(true, o.verdict.Outcome != classify.Retryable)
			if x.breaker != nil { // breaker hook 3
				recordBreaker(x.breaker, &bt, ctx, o.verdict)
			}
		}
	} else {
		cs := callState{e: e, ctx: ctx, key: key, w: w, s: s, x: x, p: p,
			timed: x.samples || p.Retry.AttemptTimeout > 0, ends: x.samples, bt: bt}
		cs.deadline, _ = ctx.Deadline()
		var rec recorder // off: no timeline, no observer
		if p.Hedge.MaxHedges > 0 {
			o = runHedged(&cs, c, &rec, 0, cs.now(), 0)
		} else {
			o = runOne(&cs, c, &rec, 0, cs.now(), 0)
		}
	}
	if o.pan == nil && o.verdict.Outcome == classify.Success {
		return o.v, nil, o.err
	}
	return loop(e, ctx, key, c, false, w, s, &o, bt)
}

// runOne runs attempt n, a round of its own (no hedging), in the caller's
// goroutine, and accounts and records it. start is its start (zero when the
// call is not timed), wait the backoff slept before it.
func runOne[T any](cs *callState, c *call[T], rec *recorder, n int, start time.Time, wait time.Duration) round[T] {
	var o round[T]
	ad, own := cs.attemptDeadline(start)
	ac := &attemptCtx{parent: cs.ctx, eng: cs.e, own: own,
		info: observe.AttemptInfo{Key: cs.key, Index: n, Deadline: ad}}
	o.v, o.err, o.pan = c.invokeSafe(ac, ac)
	o.started = 1
	end := cs.end()
	if o.pan == nil {
		o.verdict, o.pan = classifyGuarded(cs.x.classifier, cs.ctx, o.err)
	}
	if o.pan == nil {
		cs.account(n, false, o.verdict, start, end)
		if rec.on() {
			rec.attempt(observe.AttemptRecord{Index: n, Start: start, End: end, Err: o.err,
				Outcome: o.verdict.Outcome, Reason: o.verdict.Reason, Backoff: wait})
		}
	} else if rec.on() {
		rec.attempt(observe.AttemptRecord{Index: n, Start: start, End: end, Backoff: wait,
			Outcome: classify.Abort, Reason: "panic"})
	}
	return o
}

// loop is the attempt loop proper. pre, when not nil, is the first round's
// result (an attempt, or a hedged round), already run and accounted by run's
// fast path. bt is the call's admission by the key's breaker.
func loop[T any](e *Engine, ctx context.Context, key policy.Key, c *call[T], wantTL bool,
	w *keyworker.Worker, s *keyworker.Snapshot, pre *round[T], bt breaker.Ticket) (T, *observe.Timeline, error) {
	var zero T
	x := s.Ext.(*snapExt)
	p := &s.Policy
	hedged := p.Hedge.MaxHedges > 0 && !bt.Probe() // a half-open probe is one attempt
	records := wantTL || e.obs != nil
	cs := callState{e: e, ctx: ctx, key: key, w: w, s: s, x: x, p: p,
		timed: records || x.samples || p.Timeout > 0 || p.Retry.AttemptTimeout > 0,
		ends:  records || x.samples, bt: bt}

	rec := recorder{obs: e.obs, ctx: ctx, key: key}
	start := cs.now()
	if wantTL || e.obs != nil {
		rec.tl = &observe.Timeline{
			Key: key, Start: start, Pattern: s.Pattern,
			PolicySource: x.source, PolicyVersion: s.Version,
		}
		for _, ev := range x.fallbacks {
			ev.At = start
			rec.event(ev)
		}
		if e.obs != nil {
			e.obs.OnStart(ctx, key)
		}
	}
	var n int // attempts started so far

	// The call's deadline: the caller's, or the policy's Timeout if earlier.
	cs.deadline, _ = ctx.Deadline()
	if p.Timeout > 0 {
		if d := start.Add(p.Timeout); cs.deadline.IsZero() || d.Before(cs.deadline) {
			cs.deadline, cs.own = d, true
		}
	}

	// permit: the current round holds a retry budget permit. Whatever ends the
	// call — a return, the op's panic re-raised, a panicking classifier or
	// observer — gives it back. And whatever ends it, a timeline (and so the
	// observers) is finished exactly once: every return and a recorded panic
	// (the op's or the classifier's) finish it on their way out; anything
	// else (a budget or observer that panics, an op that calls
	// runtime.Goexit) is caught here.
	permit := false
	running := false       // an unhedged round is in flight (its attempt index is n)
	var runStart time.Time // when it started
	defer func() {
		if permit {
			permit = false
			s.RetryBudget.Release()
		}
		if x.breaker != nil { // breaker hook 5: a probe without an outcome gives its place back
			x.breaker.Release(&cs.bt)
		}
		if rec.on() && !rec.finished {
			rec.abandon(recover(), e.clock.Now(), n, running, runStart)
		}
	}()
	fail := func(reason string, attempts int, last, cause error) (T, *observe.Timeline, error) {
		err := &Error{Key: key, Attempts: attempts, Reason: reason, Err: last, Cause: cause}
		if rec.on() {
			rec.finish(e.clock.Now(), err, false)
		}
		return zero, rec.tl, err
	}

	if x.admitter != nil && !x.admitter.Admit() {
		rec.event(observe.Event{Kind: observe.EventBudgetDenied, At: start, Attempt: 0, Name: x.retryName,
			Detail: "first attempt refused by the adaptive throttle"})
		return fail(StopThrottled, 0, nil, ErrThrottled)
	}
	if x.breakerRefused(cs.bt) { // breaker hook 2: refused before the first attempt
		x.breakerEvent(&rec, &cs, 0, "call")
		return fail(StopBreakerOpen, 0, nil, ErrBreakerOpen)
	}

	var (
		lastErr error         // the last failed attempt's error
		wait    time.Duration // the backoff slept before the current round
		prev    time.Duration // previous backoff, for decorrelated jitter
	)
	for r := 0; ; r++ {
		if err := ctx.Err(); err != nil && (r > 0 || pre == nil) {
			return fail(StopCanceled, n, lastErr, err)
		}
		var o round[T]
		aStart := start
		if r > 0 {
			aStart = cs.now()
		}
		// A hedged round's attempts are recorded by the round itself; one
		// left abnormally ends without them (its events say what fired).
		running, runStart = !hedged, aStart
		if r == 0 && pre != nil {
			o = *pre
		} else if hedged {
			o = runHedged(&cs, c, &rec, n, aStart, wait)
		} else {
			o = runOne(&cs, c, &rec, n, aStart, wait)
		}
		running = false
		n += o.started
		if permit {
			permit = false
			s.RetryBudget.Release()
		}

		if o.pan != nil {
			if rec.on() {
				now := e.clock.Now()
				rec.event(observe.Event{Kind: observe.EventPanic, At: now, Attempt: n - 1, Detail: string(o.pan.stack)})
				rec.finish(now, &PanicError{Value: o.pan.value, Stack: o.pan.stack}, false)
			}
			o.pan.raise()
		}
		switch o.verdict.Outcome {
		case classify.Success:
			if rec.on() {
				rec.finish(cs.end(), o.err, true)
			}
			return o.v, rec.tl, o.err
		case classify.Abort:
			if cerr := ctx.Err(); cerr != nil {
				return fail(StopCanceled, n, o.err, cerr)
			}
			if e.closed.Load() && o.verdict.Reason == "closed" {
				return fail(StopClosed, n, o.err, ErrClosed)
			}
			return fail(StopAbort, n, o.err, nil)
		}
		lastErr = o.err
		if e.closed.Load() { // a hedged round cut short by Close ends here too
			return fail(StopClosed, n, lastErr, ErrClosed)
		}
		// The caller giving up wins over the attempts running out, whatever the
		// classifier made of the error: errors.Is(err, ctx.Err()) must hold.
		if cerr := ctx.Err(); cerr != nil {
			return fail(StopCanceled, n, lastErr, cerr)
		}
		if r+1 >= p.Retry.MaxAttempts {
			return fail(StopAttempts, n, lastErr, nil)
		}

		wait = backoff(&p.Retry, r, prev, e.random)
		prev = wait
		if ra := o.verdict.RetryAfter; ra > 0 {
			ra = min(ra, p.Retry.MaxRetryAfter)
			wait = max(wait, ra)
			rec.event(observe.Event{Kind: observe.EventPushback, At: cs.now(), Attempt: n - 1, Duration: ra})
		}
		if !cs.deadline.IsZero() {
			if now := e.clock.Now(); !now.Add(wait).Before(cs.deadline) {
				rec.event(observe.Event{Kind: observe.EventDeadlineSkip, At: now, Attempt: n,
					Duration: wait, Detail: "backoff would end past the deadline"})
				return fail(StopDeadline, n, lastErr, nil)
			}
		}
		if x.breakerRefusesMore() { // breaker hook 4: no retry unless closed
			x.breakerEvent(&rec, &cs, n, "retry")
			return fail(StopBreakerOpen, n, lastErr, ErrBreakerOpen)
		}
		if !s.RetryBudget.TryAcquire() {
			rec.event(observe.Event{Kind: observe.EventBudgetDenied, At: cs.now(), Attempt: n, Name: x.retryName,
				Detail: "retry refused"})
			return fail(StopBudget, n, lastErr, nil)
		}
		permit = true
		if err := e.sleep(ctx, wait); err != nil {
			if err == ErrClosed {
				return fail(StopClosed, n, lastErr, err)
			}
			return fail(StopCanceled, n, lastErr, err)
		}
		// The wheel may wake up to a tick late: never start past the deadline.
		if !cs.deadline.IsZero() {
			if now := e.clock.Now(); !now.Before(cs.deadline) {
				rec.event(observe.Event{Kind: observe.EventDeadlineSkip, At: now, Attempt: n,
					Detail: "the backoff ended at the deadline"})
				return fail(StopDeadline, n, lastErr, nil)
			}
		}
	}
}

// sleep waits d on the shared wheel. The caller's context and Close win.
// Waits shorter than two ticks use a timer of their own: the wheel would round
// them up to whole ticks, which for a sub-millisecond backoff multiplies it.
func (e *Engine) sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	if d < 2*e.sched.Tick() {
		t := e.clock.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C():
			return nil
		case <-ctx.Done():
			return ctx.Err()
		case <-e.done:
			return ErrClosed
		}
	}
	w := make(wakeup, 1)
	h, err := e.sched.TrySchedule(d, w)
	if err != nil {
		return ErrClosed
	}
	select {
	case <-w:
		return nil
	case <-ctx.Done():
		h.Stop()
		return ctx.Err()
	case <-e.done:
		h.Stop()
		return ErrClosed
	}
}

// wakeup is a Task that signals a waiting goroutine; the send never blocks the wheel.
type wakeup chan struct{}

func (w wakeup) Run() {
	select {
	case w <- struct{}{}:
	default:
	}
}
