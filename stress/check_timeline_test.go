package stress

import (
	"errors"
	"time"

	"github.com/regoresilience/rego/classify"
	"github.com/regoresilience/rego/engine"
	"github.com/regoresilience/rego/observe"
)

// checkTimeline checks what the observer saw (invariant 4) and the call's
// timeline against the attempts that actually ran. In a world without the
// observer only the timeline a call returned is there to check.
func (v *callView) checkTimeline() {
	p := &v.p
	succeeded := v.err == nil && !v.panicked
	returnsTL := v.flavor == flavorDoWithTimeline || v.flavor == flavorDoValueWithTimeline
	var (
		oc *obsCall
		tl *observe.Timeline
	)
	if v.w.observed {
		var ok bool
		if oc, ok = v.w.obs.lookup(v.id); !ok {
			p.add("invariant 4: the observer never heard of the call")
			return
		}
		oc.mu.Lock()
		defer oc.mu.Unlock()
		for _, s := range oc.problems {
			p.add("invariant 4: %s", s)
		}
		if oc.starts != 1 || oc.ends != 1 {
			p.add("invariant 4: OnStart %d times, OnSuccess/OnFailure %d times; want 1 and 1", oc.starts, oc.ends)
			return
		}
		if oc.success != succeeded {
			p.add("invariant 4: OnSuccess = %v, but the call succeeded = %v", oc.success, succeeded)
		}
		tl = oc.tl
		if tl != nil && returnsTL && !v.panicked && v.tl != tl {
			p.add("the returned timeline %p is not the one the observer got %p", v.tl, tl)
		}
	} else if returnsTL && !v.panicked {
		if tl = v.tl; tl == nil {
			p.add("%s returned no timeline", flavorNames[v.flavor])
		}
	}
	if tl == nil {
		return
	}
	if tl.Key != v.spec.key || tl.Pattern != v.spec.pattern {
		p.add("timeline key %s pattern %q, want %s %q", tl.Key, tl.Pattern, v.spec.key, v.spec.pattern)
	}
	if !tl.Start.Equal(v.start) || !tl.End.Equal(v.returnAt) {
		p.add("timeline from %s to %s, the call ran from %s to %s", v.rel(tl.Start), v.rel(tl.End), v.rel(v.start), v.rel(v.returnAt))
	}
	if tl.Succeeded() != succeeded {
		p.add("timeline Succeeded() = %v, call succeeded = %v", tl.Succeeded(), succeeded)
	}
	if v.panicked {
		var pe *engine.PanicError
		if !errors.As(tl.FinalErr, &pe) || pe.Value != v.panicVal {
			p.add("panicked call's timeline FinalErr %v is not a *engine.PanicError carrying the panic value", tl.FinalErr)
		}
	} else if tl.FinalErr != v.err {
		p.add("timeline FinalErr %v, call returned %v", tl.FinalErr, v.err)
	}

	// Attempts started == attempts recorded, index for index, in start order.
	if len(tl.Attempts) != len(v.invs) {
		p.add("timeline records %d attempts, %d ran", len(tl.Attempts), len(v.invs))
	}
	recs := map[int]observe.AttemptRecord{}
	for i, rec := range tl.Attempts {
		if rec.Index != i {
			p.add("timeline Attempts[%d].Index = %d (Attempts must be in start order)", i, rec.Index)
		}
		if _, dup := recs[rec.Index]; dup {
			p.add("timeline records attempt #%d twice", rec.Index)
		}
		recs[rec.Index] = rec
		v.checkRecord(rec)
	}
	// OnAttempt once per recorded attempt, with the same record.
	if oc != nil {
		v.checkOnAttempt(oc, tl, recs)
	}
	v.checkEvents(tl)
	v.checkBackoffs(tl)
}

// checkOnAttempt checks the observer saw each recorded attempt once, as
// recorded.
func (v *callView) checkOnAttempt(oc *obsCall, tl *observe.Timeline, recs map[int]observe.AttemptRecord) {
	p := &v.p
	if len(oc.attempts) != len(tl.Attempts) {
		p.add("invariant 4: %d OnAttempt callbacks, %d attempts recorded", len(oc.attempts), len(tl.Attempts))
	}
	got := map[int]bool{}
	for _, rec := range oc.attempts {
		if got[rec.Index] {
			p.add("invariant 4: OnAttempt twice for #%d", rec.Index)
		}
		got[rec.Index] = true
		if r, ok := recs[rec.Index]; !ok || r != rec {
			p.add("invariant 4: OnAttempt #%d does not match the timeline's record", rec.Index)
		}
	}
}

// checkRecord checks one attempt record against the invocation it describes.
func (v *callView) checkRecord(rec observe.AttemptRecord) {
	p, i := &v.p, rec.Index
	inv, ok := v.byIndex[i]
	if !ok {
		p.add("timeline records attempt #%d, which never ran", i)
		return
	}
	if rec.Hedge != inv.info.Hedge || !rec.Start.Equal(inv.start) {
		p.add("#%d: recorded hedge=%v start %s, ran hedge=%v start %s", i, rec.Hedge, v.rel(rec.Start), inv.info.Hedge, v.rel(inv.start))
	}
	if !rec.Canceled && !inv.panicked && (rec.Err != inv.err || !rec.End.Equal(inv.end)) {
		p.add("#%d: recorded err %v end %s, op returned %v at %s", i, rec.Err, v.rel(rec.End), inv.err, v.rel(inv.end))
	}
	if rec.Canceled && inv.done && !inv.interrupted && inv.end.Before(rec.End) {
		p.add("#%d: recorded as cancelled at %s, but it returned %v on its own at %s", i, v.rel(rec.End), inv.err, v.rel(inv.end))
	}
	if rec.Canceled && rec.Reason != engine.ReasonHedgeLost {
		p.add("#%d: cancelled with reason %q, want %q", i, rec.Reason, engine.ReasonHedgeLost)
	}
}

// checkHedgeTriggers checks, for a fixed hedge delay, that every hedge had a
// trigger: its timer (armed when the previous attempt of the round started,
// for Delay; never early) or a retryable failure of an earlier attempt of its
// round at the very instant it started — and that one failure fired one hedge.
func (v *callView) checkHedgeTriggers() {
	h := &v.pol.Hedge
	if h.MaxHedges == 0 || h.Percentile > 0 {
		return
	}
	for r := 0; r < len(v.invs); {
		end := r + 1
		for end < len(v.invs) && v.invs[end].info.Hedge {
			end++
		}
		round := v.invs[r:end]
		launches := map[time.Time][]int{} // hedges not fired by their timer, by start
		for k := 1; k < len(round); k++ {
			if s := round[k].start; s.Before(round[k-1].start.Add(h.Delay)) {
				launches[s] = append(launches[s], round[k].info.Index)
			}
		}
		for at, hedges := range launches {
			// Count the attempts that may have failed retryably at that instant
			// (an upper bound, from what the ops returned).
			failures := 0
			for _, inv := range round {
				permanent := inv.planned == outPermanent && !inv.interrupted
				if inv.done && inv.err != nil && !permanent && inv.end.Equal(at) && inv.info.Index < hedges[len(hedges)-1] {
					failures++
				}
			}
			switch {
			case failures == 0:
				v.p.add("hedges %v started at %s, before their timer and with no failure to fire them", hedges, v.rel(at))
			case len(hedges) > failures:
				v.p.add("hedges %v started at %s, fired by %d retryable failure(s) at that instant (one failure fires one hedge)", hedges, v.rel(at), failures)
			}
		}
		r = end
	}
}

// checkEvents checks the timeline's events against what happened: in time
// order, one hedge_fired per hedge, a panic event for a panic, and (invariant
// 5) a fallback event for each budget the policy names that was never registered.
func (v *callView) checkEvents(tl *observe.Timeline) {
	p := &v.p
	fired := map[int]int{}
	var panics, budgetFallbacks int
	for i, ev := range tl.Events {
		if i > 0 && ev.At.Before(tl.Events[i-1].At) {
			p.add("event %d (%v at %s) is before the previous one (%v at %s): events must be in the order they happened",
				i, ev.Kind, v.rel(ev.At), tl.Events[i-1].Kind, v.rel(tl.Events[i-1].At))
		}
		switch {
		case ev.Kind == observe.EventHedgeFired:
			fired[ev.Attempt]++
		case ev.Kind == observe.EventPanic:
			panics++
		case ev.Kind == observe.EventFallback && ev.Name == "budget":
			budgetFallbacks++
		}
	}
	for _, inv := range v.invs {
		if n := fired[inv.info.Index]; inv.info.Hedge && n == 0 {
			p.add("hedge #%d has no hedge_fired event", inv.info.Index)
		} else if inv.info.Hedge && n != 1 {
			p.add("hedge #%d has %d hedge_fired events, want 1", inv.info.Index, n)
		}
		delete(fired, inv.info.Index)
	}
	for i, n := range fired {
		p.add("%d hedge_fired events for #%d, which is not a hedge that ran", n, i)
	}
	if v.panicked != (panics > 0) {
		p.add("panicked %v, but %d panic events", v.panicked, panics)
	}
	missing := 0
	if v.pol.RetryBudget == budgetMissing {
		missing++
	}
	if v.pol.HedgeBudget == budgetMissing {
		missing++
	}
	if budgetFallbacks != missing {
		p.add("invariant 5: %d budget fallback events, the policy names %d missing budgets", budgetFallbacks, missing)
	}
}

// checkBackoffs checks, for calls without hedging, that each retry starts its
// recorded backoff after the previous attempt ended (timers never fire early,
// and at most a tick late), and that the backoff is within the policy's limits.
func (v *callView) checkBackoffs(tl *observe.Timeline) {
	if v.pol.Hedge.MaxHedges > 0 || len(tl.Attempts) != len(v.invs) {
		return
	}
	limit := max(v.pol.Retry.MaxBackoff, v.pol.Retry.MaxRetryAfter)
	for i := 1; i < len(v.invs); i++ {
		gap, b := v.invs[i].start.Sub(v.invs[i-1].end), tl.Attempts[i].Backoff
		if gap < b || gap > b+v.tick {
			v.p.add("#%d started %v after #%d ended, recorded backoff %v (tick %v)", i, gap, i-1, b, v.tick)
		}
		if b > limit {
			v.p.add("#%d: backoff %v over the limit %v", i, b, limit)
		}
		if tl.Attempts[i-1].Outcome != classify.Retryable {
			v.p.add("#%d was retried after outcome %v", i-1, tl.Attempts[i-1].Outcome)
		}
	}
}
