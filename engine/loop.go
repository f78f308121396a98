package engine

import (
	"context"
	"time"

	"github.com/regoresilience/rego/breaker"
	"github.com/regoresilience/rego/classify"
	"github.com/regoresilience/rego/observe"
	"github.com/regoresilience/rego/policy"
)

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
	kp  *keyPolicy
	p   *policy.Policy // &kp.policy
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

// account feeds a finished attempt to the key's budgets, its breaker and,
// when the key learns its hedge delay, its latency to the worker.
func (cs *callState) account(index int, verdict classify.Verdict, start, end time.Time) {
	ok := verdict.Outcome != classify.Retryable
	cs.kp.retryBudget.Record(index == 0, ok)
	if cs.kp.recordHedge {
		cs.kp.hedgeBudget.Record(index == 0, ok)
	}
	if cs.kp.learns {
		cs.kp.worker.Post(end.Sub(start))
	}
	if cs.kp.breaker != nil { // breaker hook 3: every accounted attempt
		recordBreaker(cs.kp.breaker, &cs.bt, cs.ctx, verdict)
	}
}

// runOne runs attempt n, a round of its own (no hedging), in the caller's
// goroutine, and accounts and records it. start is its start (zero when the
// call is not timed), wait the backoff slept before it.
func runOne[T any](cs *callState, c *call[T], rec *recorder, n int, start time.Time, wait time.Duration) round[T] {
	var res round[T]
	ad, own := cs.attemptDeadline(start)
	ac := &attemptCtx{parent: cs.ctx, eng: cs.e, own: own,
		info: observe.AttemptInfo{Key: cs.key, Index: n, Deadline: ad}}
	var hctx context.Context // the hook's context while its end waits for the verdict
	if h := cs.e.hook; h == nil {
		res.v, res.err, res.pan = c.invokeSafe(ac, ac)
	} else if hctx, res.v, res.err, res.pan = c.invokeHooked(h, ac); res.pan != nil {
		hctx = nil // ended by invokeHooked
	}
	res.started = 1
	end := cs.end()
	if res.pan == nil {
		res.verdict, res.pan = classifyGuarded(cs.kp.classifier, cs.ctx, res.err)
	}
	if hctx != nil {
		endHook(cs.e.hook, hctx, ac, res.err, res.verdict, res.pan)
	}
	if res.pan == nil {
		cs.account(n, res.verdict, start, end)
		if rec.on() {
			rec.attempt(observe.AttemptRecord{Index: n, Start: start, End: end, Err: res.err,
				Outcome: res.verdict.Outcome, Reason: res.verdict.Reason, Backoff: wait})
		}
	} else if rec.on() {
		rec.attempt(observe.AttemptRecord{Index: n, Start: start, End: end, Backoff: wait,
			Outcome: classify.Abort, Reason: "panic"})
	}
	return res
}

// loop is the attempt loop proper: rounds, the retry decision (deadline,
// budget, backoff), the timeline and the observers. firstRound, when not
// nil, is the first round's result (an attempt, or a hedged round), already
// run and accounted by run's fast path. bt is the call's admission by the
// key's breaker (the zero Ticket without one).
func loop[T any](e *Engine, ctx context.Context, key policy.Key, c *call[T], wantTL bool,
	kp *keyPolicy, firstRound *round[T], bt breaker.Ticket) (T, *observe.Timeline, error) {
	var zero T
	p := &kp.policy
	hedged := p.Hedge.MaxHedges > 0 && !bt.Probe() // a half-open probe is one attempt
	records := wantTL || e.obs != nil
	cs := callState{e: e, ctx: ctx, key: key, kp: kp, p: p,
		timed: records || kp.learns || p.Timeout > 0 || p.Retry.AttemptTimeout > 0,
		ends:  records || kp.learns, bt: bt}

	rec := recorder{obs: e.obs, ctx: ctx, key: key}
	start := cs.now()
	if wantTL || e.obs != nil {
		rec.tl = &observe.Timeline{
			Key: key, Start: start, Pattern: kp.pattern,
			PolicySource: kp.origin, PolicyVersion: kp.version,
		}
		for _, ev := range kp.fallbacks {
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
			kp.retryBudget.Release()
		}
		if kp.breaker != nil { // breaker hook 5: a probe without an outcome gives its place back
			kp.breaker.Release(&cs.bt)
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

	if kp.admitter != nil && !kp.admitter.Admit() {
		rec.event(observe.Event{Kind: observe.EventBudgetDenied, At: start, Attempt: 0, Name: kp.retryName,
			Detail: "first attempt refused by the adaptive throttle"})
		return fail(StopThrottled, 0, nil, ErrThrottled)
	}
	if kp.breakerRefused(cs.bt) { // breaker hook 2: refused before the first attempt
		kp.breakerEvent(&rec, &cs, 0, "call")
		return fail(StopBreakerOpen, 0, nil, ErrBreakerOpen)
	}

	var (
		lastErr error         // the last failed attempt's error
		wait    time.Duration // the backoff slept before the current round
		prev    time.Duration // previous backoff, for decorrelated jitter
	)
	for r := 0; ; r++ {
		if err := ctx.Err(); err != nil && (r > 0 || firstRound == nil) {
			return fail(StopCanceled, n, lastErr, err)
		}
		var res round[T]
		aStart := start
		if r > 0 {
			aStart = cs.now()
		}
		// A hedged round's attempts are recorded by the round itself; one
		// left abnormally ends without them (its events say what fired).
		running, runStart = !hedged, aStart
		if r == 0 && firstRound != nil {
			res = *firstRound
		} else if hedged {
			res = runHedged(&cs, c, &rec, n, aStart, wait)
		} else {
			res = runOne(&cs, c, &rec, n, aStart, wait)
		}
		running = false
		n += res.started
		if permit {
			permit = false
			kp.retryBudget.Release()
		}

		if res.pan != nil {
			if rec.on() {
				now := e.clock.Now()
				rec.event(observe.Event{Kind: observe.EventPanic, At: now, Attempt: n - 1, Detail: string(res.pan.stack)})
				rec.finish(now, &PanicError{Value: res.pan.value, Stack: res.pan.stack}, false)
			}
			res.pan.raise()
		}
		switch res.verdict.Outcome {
		case classify.Success:
			if rec.on() {
				rec.finish(cs.end(), res.err, true)
			}
			return res.v, rec.tl, res.err
		case classify.Abort:
			if cerr := ctx.Err(); cerr != nil {
				return fail(StopCanceled, n, res.err, cerr)
			}
			if e.closed.Load() && res.verdict.Reason == "closed" {
				return fail(StopClosed, n, res.err, ErrClosed)
			}
			return fail(StopAbort, n, res.err, nil)
		}
		lastErr = res.err
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

		var stop string
		if wait, prev, stop = cs.retryWait(&rec, r, n, res.verdict, prev); stop != "" {
			var cause error
			if stop == StopBreakerOpen {
				cause = ErrBreakerOpen
			}
			return fail(stop, n, lastErr, cause)
		}
		permit = true
		if err := e.sleep(ctx, wait); err != nil {
			if err == ErrClosed {
				return fail(StopClosed, n, lastErr, err)
			}
			return fail(StopCanceled, n, lastErr, err)
		}
		if cs.pastDeadline(&rec, n) {
			return fail(StopDeadline, n, lastErr, nil)
		}
	}
}

// retryWait decides the retry after round r, whose attempts failed
// retryably with verdict v as the last word (n attempts started so far,
// prev the previous backoff): the jittered backoff, raised to the server's
// pushback; no retry whose backoff would end past the call's deadline, nor
// while the key's breaker is not closed; then a permit from the retry
// budget, which never waits. It returns the
// wait, the backoff before pushback (the next prev) and, when the call must
// stop instead, the Stop reason. Its events go to rec.
func (cs *callState) retryWait(rec *recorder, r, n int, v classify.Verdict, prev time.Duration) (wait, base time.Duration, stop string) {
	retry := &cs.p.Retry
	wait = backoff(retry, r, prev, cs.e.random)
	base = wait
	if ra := v.RetryAfter; ra > 0 {
		ra = min(ra, retry.MaxRetryAfter)
		wait = max(wait, ra)
		rec.event(observe.Event{Kind: observe.EventPushback, At: cs.now(), Attempt: n - 1, Duration: ra})
	}
	if !cs.deadline.IsZero() {
		if now := cs.e.clock.Now(); !now.Add(wait).Before(cs.deadline) {
			rec.event(observe.Event{Kind: observe.EventDeadlineSkip, At: now, Attempt: n,
				Duration: wait, Detail: "backoff would end past the deadline"})
			return wait, base, StopDeadline
		}
	}
	if cs.kp.breakerRefusesMore() { // breaker hook 4: no retry unless closed
		cs.kp.breakerEvent(rec, cs, n, "retry")
		return wait, base, StopBreakerOpen
	}
	if !cs.kp.retryBudget.TryAcquire() {
		rec.event(observe.Event{Kind: observe.EventBudgetDenied, At: cs.now(), Attempt: n, Name: cs.kp.retryName,
			Detail: "retry refused"})
		return wait, base, StopBudget
	}
	return wait, base, ""
}

// pastDeadline reports, after a backoff, whether the call's deadline has
// come: the wheel may wake up to a tick late, and no attempt starts at or
// past the deadline. It records the skip on rec.
func (cs *callState) pastDeadline(rec *recorder, n int) bool {
	if cs.deadline.IsZero() {
		return false
	}
	if now := cs.e.clock.Now(); !now.Before(cs.deadline) {
		rec.event(observe.Event{Kind: observe.EventDeadlineSkip, At: now, Attempt: n,
			Detail: "the backoff ended at the deadline"})
		return true
	}
	return false
}
