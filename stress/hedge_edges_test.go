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

// TestHedgeThatReturnedKeepsItsResult verifies that a hedge which returned
// on its own before the round was decided is recorded with its own error and
// latency, not as a cancelled loser: hedge #1 fails at 15ms and the primary
// succeeds at 30ms, before the coordinator may have read #1's result.
func TestHedgeThatReturnedKeepsItsResult(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e, _ := caseEngine(t, policy.Policy{Retry: policy.Retry{MaxAttempts: 1},
			Hedge: policy.Hedge{MaxHedges: 1, Delay: 10 * time.Millisecond}})
		tl, err := e.DoWithTimeline(context.Background(), caseKey, func(ctx context.Context) error {
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
			t.Errorf("hedge #1 returned errFlaky after 5ms on its own; recorded as canceled=%v err=%v after %v\n%v",
				rec.Canceled, rec.Err, rec.Duration(), tl)
		}
	})
}

// TestOneHedgePerFailure verifies that a retryable failure fires one hedge,
// whoever processes it (the hedge's goroutine and the coordinator both see
// it): with a hedge delay of an hour only failures fire hedges; #0 and #1
// fail at once, so #0 fires #1 and #1 fires #2, which succeeds after 10ms:
// three attempts.
func TestOneHedgePerFailure(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e, _ := caseEngine(t, policy.Policy{Retry: policy.Retry{MaxAttempts: 1},
			Hedge: policy.Hedge{MaxHedges: 3, Delay: time.Hour}})
		log := newAttemptLog()
		tl, err := e.DoWithTimeline(context.Background(), caseKey, log.wrap(func(ctx context.Context, i int) error {
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
			t.Errorf("%d attempts ran, want 3 (one hedge per retryable failure)\n%v", n, tl)
		}
	})
}

// TestNoHedgeAfterClose verifies that a failure after Close fires no hedge:
// the engine is closed at 5ms while the primary runs, and the primary fails
// retryably at 10ms.
func TestNoHedgeAfterClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e, _ := caseEngine(t, policy.Policy{Retry: policy.Retry{MaxAttempts: 1},
			Hedge: policy.Hedge{MaxHedges: 1, Delay: time.Hour}})
		go func() {
			time.Sleep(5 * time.Millisecond)
			e.Close()
		}()
		log := newAttemptLog()
		err := e.Do(context.Background(), caseKey, log.wrap(func(ctx context.Context, i int) error {
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
			t.Errorf("%d attempts ran, want 1: an attempt started after Close", n)
		}
	})
}

// TestDeadlineFiresAfterClose verifies that an attempt running when the
// engine closes still ends by its deadline: its AttemptTimeout is 10ms, Close
// comes at 5ms, and the op would otherwise wait a full second.
func TestDeadlineFiresAfterClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e, _ := caseEngine(t, policy.Policy{Retry: policy.Retry{MaxAttempts: 1, AttemptTimeout: 10 * time.Millisecond}})
		go func() {
			time.Sleep(5 * time.Millisecond)
			e.Close()
		}()
		start := time.Now()
		e.Do(context.Background(), caseKey, func(ctx context.Context) error { return sleepCtx(ctx, time.Second) })
		if d := time.Since(start); d > 11*time.Millisecond {
			t.Errorf("the attempt ran %v, past its 10ms AttemptTimeout plus a tick (Close at 5ms)", d)
		}
	})
}

// TestNoHedgeAfterDeadline verifies that a failure at the call's deadline
// fires no hedge. The call starts 300µs into the scheduler's first tick, so
// that the wheel's rounding to 1ms ticks shows.
func TestNoHedgeAfterDeadline(t *testing.T) {
	// Deadline 10ms after the call's start; #0 waits on its ctx, which the
	// wheel ends at the next tick boundary, 10.7ms after the start; that
	// retryable attempt_timeout fires hedge #1, with its deadline passed.
	synctest.Test(t, func(t *testing.T) {
		e, _ := caseEngine(t, policy.Policy{Timeout: 10 * time.Millisecond, Retry: policy.Retry{MaxAttempts: 1},
			Hedge: policy.Hedge{MaxHedges: 1, Delay: time.Hour}})
		time.Sleep(300 * time.Microsecond)
		checkNoAttemptAfter(t, e, 10*time.Millisecond, func(ctx context.Context, i int) error { return sleepCtx(ctx, time.Second) })
	})
}

// TestHedgeFiredEventWhenCanceled verifies that every hedge that ran has its
// hedge_fired event, also one launched by its timer while the coordinator
// waits and the round ends by the caller's cancel: #0 fails at once and
// fires hedge #1; hedge #2's timer fires at 10ms; the caller cancels at 15ms.
func TestHedgeFiredEventWhenCanceled(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e, _ := caseEngine(t, policy.Policy{Retry: policy.Retry{MaxAttempts: 1},
			Hedge: policy.Hedge{MaxHedges: 2, Delay: 10 * time.Millisecond}})
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		time.AfterFunc(15*time.Millisecond, cancel)
		tl, _ := e.DoWithTimeline(ctx, caseKey, func(ctx context.Context) error {
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
				t.Errorf("hedge #%d ran but has no hedge_fired event\n%v", rec.Index, tl)
			}
		}
	})
}
