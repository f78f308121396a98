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

// Small deterministic tests of hedged rounds, deadlines and Close: each is a
// minimal scenario for an invariant that the stress tests check on random
// ones, so that a regression fails here with a readable timeline.

// TestHedgeResultKeptWhenRoundEnds verifies that an attempt that returned on
// its own before its round was decided keeps its own result on the timeline:
// hedge #1 fails 5ms after it starts, the primary succeeds at 30ms, and #1 is
// recorded with its error and duration, not as a cancelled loser.
func TestHedgeResultKeptWhenRoundEnds(t *testing.T) {
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
			t.Errorf("hedge #1 returned errFlaky after 5ms on its own; recorded as canceled=%v err=%v after %v\n%v",
				rec.Canceled, rec.Err, rec.Duration(), tl)
		}
	})
}

// TestOneHedgePerRetryableFailure verifies that one retryable failure fires
// one hedge: with a hedge delay of an hour only failures fire hedges; #0 and
// #1 fail at once, so #0 fires #1 and #1 fires #2, which succeeds after 10ms:
// three attempts, not four.
func TestOneHedgePerRetryableFailure(t *testing.T) {
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
			t.Errorf("%d attempts ran, want 3 (one hedge per retryable failure)\n%v", n, tl)
		}
	})
}

// TestNoHedgeAfterClose verifies that no hedge starts after Close: the engine
// is closed at 5ms while the primary runs; the primary fails at 10ms, which
// would fire hedge #1, and the call ends with ErrClosed instead.
func TestNoHedgeAfterClose(t *testing.T) {
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
			t.Errorf("%d attempts ran, want 1: an attempt started after Close", n)
		}
	})
}

// TestAttemptDeadlineAfterClose verifies that Close does not leave running
// attempts without their deadlines: an attempt with a 10ms AttemptTimeout is
// running when the engine is closed at 5ms, and its context ends by its
// deadline (Close runs the pending deadline timers), not when the op's full
// second is over.
func TestAttemptDeadlineAfterClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e, _ := reproEngine(t, policy.Policy{Retry: policy.Retry{MaxAttempts: 1, AttemptTimeout: 10 * time.Millisecond}})
		go func() {
			time.Sleep(5 * time.Millisecond)
			e.Close()
		}()
		start := time.Now()
		e.Do(context.Background(), reproKey, func(ctx context.Context) error { return sleepCtx(ctx, time.Second) })
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
	// retryable attempt_timeout would fire hedge #1, with its deadline passed.
	synctest.Test(t, func(t *testing.T) {
		e, _ := reproEngine(t, policy.Policy{Timeout: 10 * time.Millisecond, Retry: policy.Retry{MaxAttempts: 1},
			Hedge: policy.Hedge{MaxHedges: 1, Delay: time.Hour}})
		time.Sleep(300 * time.Microsecond)
		checkNoAttemptAfter(t, e, 10*time.Millisecond, func(ctx context.Context, i int) error { return sleepCtx(ctx, time.Second) })
	})
}

// TestHedgeFiredEventWhenCallerCancels verifies that every hedge that ran has
// its hedge_fired event, also when the round ends through the caller: #0
// fails at once and fires hedge #1; hedge #2's timer fires at 10ms while the
// round waits for results; the caller cancels at 15ms.
func TestHedgeFiredEventWhenCallerCancels(t *testing.T) {
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
				t.Errorf("hedge #%d ran but has no hedge_fired event\n%v", rec.Index, tl)
			}
		}
	})
}
