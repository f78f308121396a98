package engine

import (
	"context"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/regoresilience/rego/classify"
	"github.com/regoresilience/rego/internal/nohedge"
	"github.com/regoresilience/rego/observe"
	"github.com/regoresilience/rego/policy"
	"github.com/regoresilience/rego/scheduler"
)

// ReasonHedgeLost is the AttemptRecord.Reason of an attempt rego cancelled
// because another attempt of its round decided the call.
const ReasonHedgeLost = "hedge_lost"

// group is one hedged round: the primary attempt, run by the caller's goroutine,
// and up to MaxHedges hedges, each in a goroutine of its own.
//
// The common case costs one allocation (this struct, which embeds the
// primary's context and the first hedge timer, whose task it is) and no
// lock: the caller arms the first hedge timer on the wheel, runs the
// primary, and stops the timer. That Stop is the round's one decision
// point: if it wins, the timer never fires and a settled primary ends the
// round; if it loses, the timer has fired (or is firing, or was never armed
// because the engine closed) and the round takes the slow path, as it does
// when the primary did not settle. Once a hedge timer fires, or the primary
// fails retryably (which fires the next hedge at once, as gRPC's A6 does),
// the round allocates its hedging state, where mu guards the launch state
// and results come back on a channel.
//
// Ownership: the fields above hs are written before the round starts and
// read-only after. hs is an atomic shared by the caller and the wheel.
// The hedging state is shared by the caller, the wheel (timers) and the hedge
// goroutines under its mu. Hedge goroutines are owned by the round: each ends
// when its op returns (rego cancels losers through their context) and its last
// act is a send on the buffered results channel, which never blocks.
type group[T any] struct {
	// primary is the primary attempt's context. It also holds the call's
	// engine (eng), context (parent) and key (info.Key), which the round
	// reads from there rather than keeping copies: every byte of this
	// struct is allocated on every hedged call. Its info.Index is the
	// round's first attempt index.
	primary  attemptCtx
	call     call[T]
	kp       *keyPolicy          // the key's resolved policy, and through it its worker
	deadline time.Time           // the call's deadline; zero = none
	timer    scheduler.TimerNode // the first hedge's timer (the group is its Task); the caller's alone

	hs atomic.Pointer[hedging[T]] // created when the round takes the slow path
}

// callState rebuilds the call's state from the group (on the stack), for
// the slow path: it reads the clock whenever it needs a time (timed, ends),
// and its attempts end themselves (own), as hedged attempts do.
func (g *group[T]) callState() callState {
	return callState{e: g.primary.eng, ctx: g.primary.parent, key: g.primary.info.Key, kp: g.kp,
		p: &g.kp.policy, timed: true, ends: true, deadline: g.deadline, own: true}
}

// first returns the attempt index of the round's primary.
func (g *group[T]) first() int { return g.primary.info.Index }

func (g *group[T]) maxHedges() int { return g.kp.policy.Hedge.MaxHedges }

// Run fires the first hedge: the group is its timer's Task. It runs on the
// wheel goroutine and only launches a goroutine.
func (g *group[T]) Run() { g.launch(1) }

// hedging is a round's state once hedges may run. mu guards every field.
type hedging[T any] struct {
	mu       sync.Mutex
	launched int  // attempts started, primary included
	stopped  bool // no more launches: the round is decided, or a budget refused
	decided  bool // an attempt won or aborted; the others were cancelled
	denied   bool // the hedge budget refused a launch (an event to record)
	asking   bool // a launch is asking the budget with mu released: no other may
	slots    [1 + policy.MaxHedgesLimit]*attemptCtx
	starts   [1 + policy.MaxHedgesLimit]time.Time
	timers   [1 + policy.MaxHedgesLimit]hedgeTimer[T] // timers[k] fires hedge k, k >= 2
	results  chan hedgeResult[T]
}

// state returns the round's hedging state, creating it on first use. Racing
// creators (the wheel and the caller) build one each; one wins the CAS.
func (g *group[T]) state() *hedging[T] {
	if hs := g.hs.Load(); hs != nil {
		return hs
	}
	hs := &hedging[T]{launched: 1, results: make(chan hedgeResult[T], 2+g.maxHedges())}
	hs.slots[0] = &g.primary // starts[0] stays zero: the primary's result carries its start
	for i := 2; i <= g.maxHedges(); i++ {
		hs.timers[i] = hedgeTimer[T]{g: g, k: i}
	}
	if g.hs.CompareAndSwap(nil, hs) {
		return hs
	}
	return g.hs.Load()
}

// attempt returns the context of attempt k of the round, nil if not started.
func (g *group[T]) attempt(k int) *attemptCtx {
	if k == 0 {
		return &g.primary
	}
	if hs := g.hs.Load(); hs != nil {
		hs.mu.Lock()
		defer hs.mu.Unlock()
		return hs.slots[k]
	}
	return nil
}

type hedgeTimer[T any] struct {
	g *group[T]
	k int
	h scheduler.Handle
}

// Run fires hedge k (on the wheel goroutine: it only launches a goroutine).
func (t *hedgeTimer[T]) Run() { t.g.launch(t.k) }

type hedgeResult[T any] struct {
	k          int
	v          T
	err        error
	verdict    classify.Verdict
	pan        *panicked
	start, end time.Time
	recheck    bool // not an attempt: wakes the coordinator to look at the state again
}

// launch starts hedge k if it is still wanted. Any number of goroutines may ask
// for the same k (its timer, a failed attempt); one launches it.
func (g *group[T]) launch(k int) {
	hs := g.state()
	hs.mu.Lock()
	if hs.stopped || hs.launched != k || k > g.maxHedges() || hs.asking {
		hs.mu.Unlock()
		return
	}
	// This launch is now the only one: it reads the clock, the caller's
	// context and the budget (user code, all of it) without holding mu, so
	// that a panic there cannot leave the round locked.
	hs.asking = true
	hs.mu.Unlock()
	cs := g.callState()
	now := cs.e.clock.Now()
	// No attempt starts once the caller gave up, the executor closed, the
	// call's deadline passed or the key's breaker left the closed state
	// (breaker hook 4), nor for a call marked as not to be hedged: the round
	// ends with what it has, and no permit is spent.
	over := cs.ctx.Err() != nil || cs.e.closed.Load() || (!cs.deadline.IsZero() && !now.Before(cs.deadline)) ||
		nohedge.Is(cs.ctx) || cs.kp.breakerRefusesMore()
	granted := !over && g.tryAcquireHedge(&cs)
	hs.mu.Lock()
	hs.asking = false
	if hs.stopped { // decided or finished meanwhile: whoever stopped it reports
		hs.mu.Unlock()
		if granted {
			g.releaseHedge(&cs)
		}
		return
	}
	if !granted {
		hs.stopped, hs.denied = true, !over
		hs.mu.Unlock()
		hs.results <- hedgeResult[T]{recheck: true} // at most once: stopped is now set
		return
	}
	ad, _ := cs.attemptDeadline(now)
	ac := &attemptCtx{parent: cs.ctx, eng: cs.e, own: true,
		info: observe.AttemptInfo{Key: cs.key, Index: g.first() + k, Hedge: true, Deadline: ad}}
	hs.slots[k], hs.starts[k] = ac, now
	hs.launched++
	if k < g.maxHedges() {
		hs.timers[k+1].h = cs.e.sched.ScheduleAt(now.Add(cs.kp.hedgeDelay()), &hs.timers[k+1])
	}
	hs.mu.Unlock()
	go g.runHedge(k, ac, now)
}

// tryAcquireHedge asks the hedge budget for a permit. launch runs on the
// wheel goroutine, in hedge goroutines and in the caller's: a budget that
// panics there is logged with its stack and counts as a refusal, so that it
// neither kills the wheel nor hangs the round.
func (g *group[T]) tryAcquireHedge(cs *callState) (ok bool) {
	guardHedgeBudget(cs, "TryAcquire", func() { ok = cs.kp.hedgeBudget.TryAcquire() })
	return ok
}

// releaseHedge gives back a hedge permit (a hedge's, or one a launch found it
// no longer needed); a budget that panics is logged, as in tryAcquireHedge.
func (g *group[T]) releaseHedge(cs *callState) {
	guardHedgeBudget(cs, "Release", cs.kp.hedgeBudget.Release)
}

// guardHedgeBudget runs f, a call into the hedge budget, and logs a panic
// from it with its stack instead of letting it through.
func guardHedgeBudget(cs *callState, method string, f func()) {
	returned := false
	defer func() {
		if !returned {
			cs.e.logger.Error("rego: the hedge budget panicked", "key", cs.key.String(), "budget", cs.kp.hedgeName,
				"method", method, "panic", recover(), "stack", string(debug.Stack()))
		}
	}()
	f()
	returned = true
}

// runHedge is a hedge goroutine. Whatever happens in it — the op returns,
// panics or calls runtime.Goexit, or the classifier panics — it releases its
// hedge permit and reports to the round exactly once, so the caller never
// hangs and the process never crashes on a hedge's account.
func (g *group[T]) runHedge(k int, ac *attemptCtx, start time.Time) {
	cs := g.callState()
	r := hedgeResult[T]{k: k, start: start}
	released, sent := false, false
	var hctx context.Context // the hook's context while its end waits for the verdict
	defer func() {
		if sent {
			return
		}
		if rec := recover(); rec != nil {
			r.pan = &panicked{value: rec, stack: debug.Stack()} // the classifier panicked
		} else if r.pan == nil {
			r.pan = &panicked{value: ErrGoexit, stack: debug.Stack(), goexit: true}
		}
		if hctx != nil {
			h := hctx
			hctx = nil
			endHook(cs.e.hook, h, ac, r.err, r.verdict, r.pan)
		}
		ac.finish()
		if !released {
			released = true
			g.releaseHedge(&cs)
		}
		r.end = cs.e.clock.Now()
		g.decide(k)
		g.state().results <- r
	}()
	if h := cs.e.hook; h == nil {
		r.v, r.err, r.pan = g.call.invokeSafe(ac, ac)
	} else if hctx, r.v, r.err, r.pan = g.call.invokeHooked(h, ac); r.pan != nil {
		hctx = nil // ended by invokeHooked
	}
	r.end = cs.e.clock.Now()
	released = true
	g.releaseHedge(&cs)
	if r.pan != nil && ac.lost() {
		// The round was decided without this attempt: its panic will not be
		// re-raised anywhere, so at least it is not silent.
		cs.e.logger.Error("rego: a cancelled hedge attempt panicked; the panic is not re-raised",
			"key", cs.key.String(), "attempt", g.first()+k, "panic", r.pan.value, "stack", string(r.pan.stack))
	}
	if r.pan == nil {
		r.verdict = cs.kp.classifier.Classify(cs.ctx, r.err)
	}
	if r.pan != nil || r.verdict.Outcome != classify.Retryable {
		g.decide(k) // cancel the others now, so a primary stuck in op returns
	} else if !ac.lost() {
		g.launchNext()
	}
	if hctx != nil { // before the result goes out: a winner's end precedes the call's
		h := hctx
		hctx = nil // a panicking EndAttempt is not ended twice
		endHook(cs.e.hook, h, ac, r.err, r.verdict, r.pan)
	}
	sent = true
	g.state().results <- r
}

func (g *group[T]) launchNext() {
	hs := g.state()
	hs.mu.Lock()
	k := hs.launched
	hs.mu.Unlock()
	g.launch(k)
}

// decide makes attempt k the one that settles the round: no more launches, and
// every other attempt still running is cancelled. The first call wins.
func (g *group[T]) decide(k int) {
	hs := g.state()
	hs.mu.Lock()
	defer hs.mu.Unlock()
	if hs.decided {
		return
	}
	hs.decided, hs.stopped = true, true
	hs.stopTimersLocked(g.maxHedges())
	for i := 0; i < hs.launched; i++ {
		if ac := hs.slots[i]; i != k && ac != nil {
			ac.lose()
		}
	}
}

// stopTimersLocked stops the timers of hedges not yet launched, except the
// first one, which belongs to the caller.
func (hs *hedging[T]) stopTimersLocked(maxHedges int) {
	for i := 2; i <= maxHedges; i++ {
		hs.timers[i].h.Stop()
	}
}

// lose cancels an attempt that another attempt's result made useless, unless
// it already returned: then its own result stands (and is recorded as such).
//
// It closes an armed done channel itself rather than through cancel: Err,
// seeing the attempt ended, may set err first, and cancel would then
// close nothing.
func (c *attemptCtx) lose() {
	if c.state.CompareAndSwap(attemptRunning, attemptLost) {
		c.err.CompareAndSwap(nil, &errCanceled)
		if a := c.arm.Load(); a != nil {
			a.close()
		}
	}
}

// lost reports whether rego cancelled the attempt before it returned.
func (c *attemptCtx) lost() bool { return c.state.Load() == attemptLost }
