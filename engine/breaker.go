package engine

import (
	"context"

	"github.com/regoresilience/rego/breaker"
	"github.com/regoresilience/rego/classify"
	"github.com/regoresilience/rego/observe"
	"github.com/regoresilience/rego/policy"
)

// The engine's side of the per-key circuit breaker (package breaker). The
// call path has five hooks, each marked "breaker hook" where it sits:
//
//  1. run, before the first attempt: admit asks the breaker; a refused call
//     or a half-open probe takes the slow path (loop).
//  2. loop, after OnStart: a refused call fails at once with ErrBreakerOpen,
//     reason StopBreakerOpen and an EventBreakerOpen, without running op.
//  3. every accounted attempt (callState.account, and run's fast path):
//     recordBreaker reports its outcome.
//  4. before each retry (callState.retryWait) and each hedge launch (group.launch):
//     breakerRefusesMore stops them unless the breaker is closed.
//  5. loop's deferred cleanup: Release gives back an unresolved probe's place.
//
// What counts: every attempt the engine accounts (what the budgets see),
// classified Retryable = failure; Success, or Abort while the caller still
// waits = success (the backend answered: a not-found or a Permanent error
// says nothing against its health). Attempts that end because the caller
// gave up, that panicked, or that rego cancelled as hedge losers are not
// counted. This is per attempt, as with failsafe-go's and resilience4j's
// usual composition (a retry policy outside the breaker): a call whose
// first two attempts fail counts two failures.

// ErrBreakerOpen is matched (errors.Is) by the error of a call refused by its
// key's circuit breaker, before its first attempt or before a retry: the
// breaker was open, or half-open with every probe place taken. It is
// breaker.ErrOpen.
var ErrBreakerOpen = breaker.ErrOpen

// StopBreakerOpen is the Error.Reason of a call refused, or cut short
// before a retry, by its key's circuit breaker.
const StopBreakerOpen = "breaker_open"

// breakerFor returns the breaker of a key's new snapshot: nil when its
// policy has none, or when the worker is the overflow worker (shared by many
// keys, whose failures must not open a breaker for all of them). A policy
// change that leaves the breaker's configuration as it was keeps the
// breaker, state and window included: reloading an unrelated policy must not
// close an open breaker. (Two calls resolving a changed policy at once may
// each build a breaker; the snapshot published last keeps its own, and the
// other's few outcomes are lost: only at a configuration change.)
func (e *Engine) breakerFor(w *keyWorker, overflow bool, p *policy.Policy) *breaker.Breaker {
	if overflow || !p.Breaker.Enabled() {
		return nil
	}
	if prev := w.Snapshot(); prev != nil && prev.breaker != nil && prev.breaker.Config() == p.Breaker {
		return prev.breaker
	}
	if e.coarse != nil {
		return breaker.New(p.Breaker, e.coarse.UnixNanos)
	}
	clock := e.clock // injected: read it exactly, as the budgets do
	return breaker.New(p.Breaker, func() int64 { return clock.Now().UnixNano() })
}

// admit asks the key's breaker (not nil) whether a call may start (hook 1).
// slow is true when the call must take the loop: it was refused (the zero
// Ticket), or it is a half-open probe, which must not hedge (one attempt)
// and whose place must be given back however the call ends.
func (kp *keyPolicy) admit() (t breaker.Ticket, slow bool) {
	t, ok := kp.breaker.Allow()
	return t, !ok || t.Probe()
}

// breakerRefused reports whether the call holding t was refused by the key's
// breaker (hook 2).
func (kp *keyPolicy) breakerRefused(t breaker.Ticket) bool {
	return kp.breaker != nil && t == (breaker.Ticket{})
}

// breakerEvent is the timeline event of a refusal.
func (kp *keyPolicy) breakerEvent(rec *recorder, cs *callState, attempt int, what string) {
	if rec.on() {
		rec.event(observe.Event{Kind: observe.EventBreakerOpen, At: cs.now(), Attempt: attempt, Name: "breaker",
			Detail: what + " refused: circuit breaker " + kp.breaker.State().String()})
	}
}

// recordBreaker reports one accounted attempt to the key's breaker (hook 3).
func recordBreaker(b *breaker.Breaker, t *breaker.Ticket, ctx context.Context, v classify.Verdict) {
	switch {
	case v.Outcome == classify.Success:
		b.Record(t, false)
	case ctx.Err() != nil:
		// The caller gave up: the attempt says nothing about the backend.
	default:
		b.Record(t, v.Outcome == classify.Retryable)
	}
}

// breakerRefusesMore reports whether the key's breaker stops a call's
// further attempts (hook 4): retries and hedges run only while it is
// closed. A half-open probe is one attempt, and an open breaker sends
// nothing more.
func (kp *keyPolicy) breakerRefusesMore() bool {
	return kp.breaker != nil && kp.breaker.State() != breaker.Closed
}
