package engine

import (
	"context"
	"sort"
	"time"

	"github.com/regoresilience/rego/classify"
	"github.com/regoresilience/rego/observe"
	"github.com/regoresilience/rego/policy"
)

// runHedged runs one hedged round in the caller's goroutine. first is the index
// of the round's primary attempt, start its start (zero when the call is not
// timed), wait the backoff slept before it.
func runHedged[T any](cs *callState, c *call[T], rec *recorder, first int, start time.Time, wait time.Duration) round[T] {
	ad, _ := cs.attemptDeadline(start)
	g := &group[T]{
		primary: attemptCtx{parent: cs.ctx, eng: cs.e, own: true,
			info: observe.AttemptInfo{Key: cs.key, Index: first, Deadline: ad}},
		call: *c, kp: cs.kp, deadline: cs.deadline,
	}
	// Coarse: a hedge may fire up to about two ticks after its delay (never
	// before), and in exchange a busy engine arms it without a clock read or
	// a pooled node.
	cs.e.sched.ScheduleCoarseNode(&g.timer, cs.kp.hedgeDelay(), g)

	// Whatever takes the caller's goroutine out of the round other than a
	// return (an op that calls runtime.Goexit, a classifier, budget or
	// observer that panics) must leave nothing behind: no armed timer, no
	// running hedge.
	ended := false
	defer func() {
		if !ended {
			g.timer.Stop()
			g.decide(-1)
		}
	}()

	r := hedgeResult[T]{k: 0, start: start}
	var hctx context.Context // the hook's context while its end waits for the verdict
	if h := cs.e.hook; h == nil {
		r.v, r.err, r.pan = c.invokeSafe(&g.primary, &g.primary)
	} else if hctx, r.v, r.err, r.pan = c.invokeHooked(h, &g.primary); r.pan != nil {
		hctx = nil // ended by invokeHooked
	}
	r.end = cs.end()
	switch {
	case r.pan != nil:
	case rec.on() || hctx != nil: // a classifier's panic is recorded like an op's, and ends the hook
		r.verdict, r.pan = classifyGuarded(cs.kp.classifier, cs.ctx, r.err)
	default: // nothing to record: a panic goes through the defer above
		r.verdict = cs.kp.classifier.Classify(cs.ctx, r.err)
	}
	if hctx != nil {
		endHook(cs.e.hook, hctx, &g.primary, r.err, r.verdict, r.pan)
	}
	settles := r.pan != nil || r.verdict.Outcome != classify.Retryable
	var out round[T]
	if g.timer.Stop() && settles {
		// The primary settled before any hedge fired: the common, lock-free case.
		g.record(cs, rec, &r, wait)
		out = round[T]{v: r.v, err: r.err, verdict: r.verdict, pan: r.pan, started: 1}
	} else {
		co := coordinator[T]{g: g, hs: g.state(), wait: wait, fired: 1}
		out = co.run(cs, rec, r)
	}
	ended = true
	return out
}

// record accounts and records one finished attempt of the round.
func (g *group[T]) record(cs *callState, rec *recorder, r *hedgeResult[T], wait time.Duration) {
	idx := g.first() + r.k
	ac := g.attempt(r.k)
	lost := ac != nil && ac.lost()
	if r.pan == nil && !lost {
		cs.account(idx, r.verdict, r.start, r.end)
	}
	if !rec.on() {
		return
	}
	ar := observe.AttemptRecord{Index: idx, Hedge: r.k > 0, Start: r.start, End: r.end, Err: r.err,
		Outcome: r.verdict.Outcome, Reason: r.verdict.Reason, Canceled: lost}
	if r.k == 0 {
		ar.Backoff = wait
	}
	switch {
	case r.pan != nil:
		ar.Outcome, ar.Reason = classify.Abort, "panic"
	case lost:
		ar.Outcome, ar.Reason = classify.Abort, ReasonHedgeLost
	}
	rec.attempt(ar)
}

// coordinator runs a hedged round's slow path in the caller's goroutine,
// after the primary returned with a hedge fired or its own failure: it
// processes results in arrival order until one settles the round, every
// attempt failed, or the caller gives up. Losers are not waited for. It
// lives on the caller's stack and only the caller's goroutine touches it.
//
// The call's state and recorder are passed to its methods rather than kept
// in it: escape analysis does not tell one field from another, so kept
// beside g (on the heap) they would move to the heap too, and cost the
// fast path, which has them on its stack, an allocation per call.
type coordinator[T any] struct {
	g    *group[T]
	hs   *hedging[T]
	wait time.Duration // the backoff slept before the round

	out      round[T]                        // the deciding (or last) result so far
	seen     [1 + policy.MaxHedgesLimit]bool // seen[k]: attempt k's result was processed
	fired    int                             // attempts whose hedge_fired event is recorded, primary included
	reported int                             // results processed
}

// run processes the primary's result, then the others as they come.
func (co *coordinator[T]) run(cs *callState, rec *recorder, primary hedgeResult[T]) round[T] {
	if co.process(cs, rec, primary) {
		return co.finish(cs, rec)
	}
	for {
		launched, stopped, ch := co.note(cs, rec)
		if co.reported == launched && (stopped || launched > co.g.maxHedges()) {
			return co.finish(cs, rec) // every attempt failed and no hedge is left to fire
		}
		select {
		case r := <-ch:
			if r.recheck {
				continue
			}
			if co.process(cs, rec, r) {
				return co.finish(cs, rec)
			}
		case <-cs.ctx.Done():
			co.g.decide(-1)
			co.out.verdict = classify.Verdict{Outcome: classify.Abort, Reason: classify.ReasonCanceled}
			return co.finish(cs, rec)
		case <-cs.e.done:
			co.g.decide(-1)
			co.out.verdict = classify.Verdict{Outcome: classify.Abort, Reason: "closed"}
			return co.finish(cs, rec)
		}
	}
}

// note reads the launch state, records a hedge_fired event for every hedge
// launched since the last note and a budget-denied event if the hedge
// budget refused one, and returns what run waits on.
func (co *coordinator[T]) note(cs *callState, rec *recorder) (launched int, stopped bool, results chan hedgeResult[T]) {
	hs := co.hs
	hs.mu.Lock()
	launched, stopped, denied, results := hs.launched, hs.stopped, hs.denied, hs.results
	hs.denied = false
	starts := hs.starts
	hs.mu.Unlock()
	for ; co.fired < launched; co.fired++ {
		rec.event(observe.Event{Kind: observe.EventHedgeFired, At: starts[co.fired], Attempt: co.g.first() + co.fired})
	}
	if denied {
		rec.event(observe.Event{Kind: observe.EventBudgetDenied, At: cs.now(), Attempt: co.g.first() + launched,
			Name: cs.kp.hedgeName, Detail: "hedge refused"})
	}
	return launched, stopped, results
}

// process records one attempt's result and reports whether it settles the
// round.
func (co *coordinator[T]) process(cs *callState, rec *recorder, r hedgeResult[T]) bool {
	co.seen[r.k] = true
	co.reported++
	co.note(cs, rec)
	co.g.record(cs, rec, &r, co.wait)
	co.out.v, co.out.err, co.out.verdict, co.out.pan = r.v, r.err, r.verdict, r.pan
	if ac := co.g.attempt(r.k); r.pan == nil && ac != nil && ac.lost() {
		// rego cancelled this attempt because another one settled the
		// round; whatever it returned (typically its cancellation, which a
		// classifier may call an Abort) must not decide. The deciding
		// attempt's goroutine sends its result after deciding: wait for it.
		return false
	}
	if r.pan != nil || r.verdict.Outcome != classify.Retryable {
		co.g.decide(r.k)
		return true
	}
	if r.k == 0 {
		// A retryable failure fires the next hedge at once. A hedge's own
		// goroutine already did that for its failure: one failure, one hedge.
		co.g.launchNext()
	}
	return false
}

// finish stops further launches, records the attempts still out (waiting
// for those that returned on their own, recording those rego cancelled as
// lost) and returns the round's result.
func (co *coordinator[T]) finish(cs *callState, rec *recorder) round[T] {
	co.note(cs, rec) // hedges launched while we waited get their hedge_fired event
	hs := co.hs
	hs.mu.Lock()
	hs.stopped = true
	hs.stopTimersLocked(co.g.maxHedges())
	launched := hs.launched
	starts, slots := hs.starts, hs.slots
	hs.mu.Unlock()
	co.out.started = launched
	// An attempt that returned on its own before the round was decided
	// keeps its own result: its goroutine is only classifying it, so wait
	// for it. Only the attempts rego cancelled are recorded as lost.
	for k := 1; k < launched; k++ {
		for !co.seen[k] && !slots[k].lost() {
			if r := <-hs.results; !r.recheck {
				co.seen[r.k] = true
				co.g.record(cs, rec, &r, co.wait)
			}
		}
	}
	now := cs.now()
	for k := 1; k < launched; k++ { // the primary's result is always seen: it came first
		if !co.seen[k] && rec.on() {
			rec.attempt(observe.AttemptRecord{Index: co.g.first() + k, Hedge: k > 0, Start: starts[k], End: now,
				Err: context.Canceled, Outcome: classify.Abort, Reason: ReasonHedgeLost, Canceled: true})
		}
	}
	if rec.on() {
		// Observers saw the round's attempts as they ended; the timeline
		// keeps them in start order.
		round := rec.tl.Attempts[len(rec.tl.Attempts)-launched:]
		sort.SliceStable(round, func(i, j int) bool { return round[i].Index < round[j].Index })
	}
	return co.out
}
