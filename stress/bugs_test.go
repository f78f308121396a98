package stress

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/regoresilience/rego/engine"
	"github.com/regoresilience/rego/observe"
	"github.com/regoresilience/rego/policy"
)

// Engine bugs found by the stress tests, all fixed. Each keeps its minimal,
// deterministic reproduction below (TestFixedBug*) as a regression test; the
// stress tests now fail on their symptoms like on any other. A bug found
// later gets a constant here, a reproduction, and (while it is open) a
// p.known tolerance in the checks so the stress tests keep checking
// everything else; -stress.strict fails on tolerated symptoms too.
const (
	// bugHedgeAfterClose: after Close, a hedged round whose running attempt
	// fails retryably still launches the next hedge (launchNext does not look
	// at Close); the op is invoked after Close, and cancelled at once.
	bugHedgeAfterClose = "hedge-after-close"
	// bugDoubleHedge: a hedge that fails retryably fires two more hedges, not
	// one: runHedge calls launchNext, and so does the coordinator when it
	// processes the same result; launchNext re-reads hs.launched each time, so
	// launch's "same k launches once" guard does not catch the second call.
	bugDoubleHedge = "double-hedge"
	// bugAttemptAfterDeadline: the engine starts hedges after the call's own
	// deadline (policy Timeout) has passed, with an already expired context:
	// the primary ends on that deadline (the wheel fires it up to a tick
	// late), its retryable attempt_timeout fires the next hedge at once, and
	// launch does not look at the deadline. (Retries no longer do this since
	// 7ca8792 re-checks the deadline after the backoff.)
	bugAttemptAfterDeadline = "attempt-after-deadline"
	// bugDeadlineAfterClose: Close stops the timer wheel, so the deadline
	// timers of attempts already running never fire: an op waiting on ctx for
	// its AttemptTimeout or the policy Timeout runs until it returns by itself,
	// and the call returns past its deadline. (An op that first asks for
	// ctx.Done after Close, on the other hand, is cancelled at once.)
	bugDeadlineAfterClose = "deadline-after-close"
	// bugLostResult: when a hedged round ends (a winner, or the caller's
	// context) while results of finished attempts still wait in the round's
	// channel, finish records those attempts as cancelled losers
	// (Canceled, hedge_lost, Err context.Canceled, End = the round's end)
	// although they returned on their own earlier; their real error and
	// latency are lost, and they are not accounted to the budgets or the
	// latency tracker.
	bugLostResult = "lost-result"
	// bugMissingHedgeEvent: a hedge launched by its timer while the round's
	// coordinator waits in its select gets its hedge_fired event only when the
	// coordinator next calls note(), on a result; when the round ends through
	// the caller's context (or Close) instead, finish records the hedge's
	// attempt but never its hedge_fired event.
	bugMissingHedgeEvent = "missing-hedge-event"
)

// TestBugLostResult reproduces bugLostResult: hedge #1 fails at 15ms, the
// primary succeeds at 30ms before the coordinator read #1's result, and the
// timeline records #1 as a cancelled loser.
func TestFixedBugLostResult(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e, _ := reproEngine(t, policy.Policy{Retry: policy.Retry{MaxAttempts: 1},
			Hedge: policy.Hedge{MaxHedges: 1, Delay: 10 * time.Millisecond}})
		tl, err := e.DoWithTimeline(context.Background(), reproKey, func(ctx context.Context) error {
			if info, _ := observe.AttemptFromContext(ctx); info.Index == 1 {
				sleepCtx(ctx, 5*time.Millisecond)
				return errFlaky
			}
			return sleepCtx(ctx, 30*time.Millisecond)
		})
		if err != nil || len(tl.Attempts) != 2 {
			t.Fatalf("err %v, timeline:\n%v", err, tl)
		}
		if rec := tl.Attempts[1]; rec.Canceled || !errors.Is(rec.Err, errFlaky) || rec.Duration() != 5*time.Millisecond {
			t.Errorf("bug %s: hedge #1 returned errFlaky after 5ms on its own; recorded as canceled=%v err=%v after %v\n%v",
				bugLostResult, rec.Canceled, rec.Err, rec.Duration(), tl)
		}
	})
}

// TestBugDoubleHedge reproduces bugDoubleHedge: with a hedge delay of an hour
// only failures fire hedges; #0 and #1 fail at once, so #0 fires #1 and #1
// fires #2, which succeeds after 10ms: three attempts. The engine runs four.
func TestFixedBugDoubleHedge(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e, _ := reproEngine(t, policy.Policy{Retry: policy.Retry{MaxAttempts: 1},
			Hedge: policy.Hedge{MaxHedges: 3, Delay: time.Hour}})
		log := newAttemptLog()
		tl, err := e.DoWithTimeline(context.Background(), reproKey, log.wrap(func(ctx context.Context, i int) error {
			if i < 2 {
				return errFlaky
			}
			return sleepCtx(ctx, 10*time.Millisecond)
		}))
		synctest.Wait()
		if err != nil {
			t.Fatalf("err %v\n%v", err, tl)
		}
		if n := log.count(); n != 3 {
			t.Errorf("bug %s: %d attempts ran, want 3 (one hedge per retryable failure)\n%v", bugDoubleHedge, n, tl)
		}
	})
}

// TestBugHedgeAfterClose reproduces bugHedgeAfterClose: the engine is closed
// at 5ms while the primary runs; the primary fails at 10ms and the engine
// still starts hedge #1.
func TestFixedBugHedgeAfterClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e, _ := reproEngine(t, policy.Policy{Retry: policy.Retry{MaxAttempts: 1},
			Hedge: policy.Hedge{MaxHedges: 1, Delay: time.Hour}})
		go func() {
			time.Sleep(5 * time.Millisecond)
			e.Close()
		}()
		log := newAttemptLog()
		err := e.Do(context.Background(), reproKey, log.wrap(func(ctx context.Context, i int) error {
			if i == 0 {
				time.Sleep(10 * time.Millisecond)
				return errFlaky
			}
			return nil
		}))
		synctest.Wait()
		if !errors.Is(err, engine.ErrClosed) {
			t.Errorf("err = %v, want ErrClosed", err)
		}
		if n := log.count(); n != 1 {
			t.Errorf("bug %s: %d attempts ran, want 1: an attempt started after Close", bugHedgeAfterClose, n)
		}
	})
}

// TestBugDeadlineAfterClose reproduces bugDeadlineAfterClose: an attempt with
// a 10ms AttemptTimeout is running when the engine is closed at 5ms; its
// deadline never fires, and the op runs its full second.
func TestFixedBugDeadlineAfterClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e, _ := reproEngine(t, policy.Policy{Retry: policy.Retry{MaxAttempts: 1, AttemptTimeout: 10 * time.Millisecond}})
		go func() {
			time.Sleep(5 * time.Millisecond)
			e.Close()
		}()
		start := time.Now()
		e.Do(context.Background(), reproKey, func(ctx context.Context) error { return sleepCtx(ctx, time.Second) })
		if d := time.Since(start); d > 11*time.Millisecond {
			t.Errorf("bug %s: the attempt ran %v, past its 10ms AttemptTimeout plus a tick (Close at 5ms)", bugDeadlineAfterClose, d)
		}
	})
}

// TestBugAttemptAfterDeadline reproduces bugAttemptAfterDeadline. The call
// starts 300µs into the scheduler's first tick, so that the wheel's rounding
// to 1ms ticks shows.
func TestFixedBugAttemptAfterDeadline(t *testing.T) {
	// Deadline 10ms after the call's start; #0 waits on its ctx, which the
	// wheel ends at the next tick boundary, 10.7ms after the start; that
	// retryable attempt_timeout fires hedge #1, with its deadline passed.
	synctest.Test(t, func(t *testing.T) {
		e, _ := reproEngine(t, policy.Policy{Timeout: 10 * time.Millisecond, Retry: policy.Retry{MaxAttempts: 1},
			Hedge: policy.Hedge{MaxHedges: 1, Delay: time.Hour}})
		time.Sleep(300 * time.Microsecond)
		checkNoAttemptAfter(t, e, 10*time.Millisecond, func(ctx context.Context, i int) error { return sleepCtx(ctx, time.Second) })
	})
}

// TestBugMissingHedgeEvent reproduces bugMissingHedgeEvent: #0 fails at once
// and fires hedge #1; hedge #2's timer fires at 10ms while the coordinator
// waits; the caller cancels at 15ms; the timeline has no hedge_fired for #2.
func TestFixedBugMissingHedgeEvent(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e, _ := reproEngine(t, policy.Policy{Retry: policy.Retry{MaxAttempts: 1},
			Hedge: policy.Hedge{MaxHedges: 2, Delay: 10 * time.Millisecond}})
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		time.AfterFunc(15*time.Millisecond, cancel)
		tl, _ := e.DoWithTimeline(ctx, reproKey, func(ctx context.Context) error {
			if info, _ := observe.AttemptFromContext(ctx); info.Index == 0 {
				return errFlaky
			}
			return sleepCtx(ctx, 100*time.Millisecond)
		})
		fired := map[int]bool{}
		for _, ev := range tl.Events {
			if ev.Kind == observe.EventHedgeFired {
				fired[ev.Attempt] = true
			}
		}
		for _, rec := range tl.Attempts {
			if rec.Hedge && !fired[rec.Index] {
				t.Errorf("bug %s: hedge #%d ran but has no hedge_fired event\n%v", bugMissingHedgeEvent, rec.Index, tl)
			}
		}
	})
}
