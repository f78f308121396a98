package stress

import (
	"context"
	"errors"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/regoresilience/rego/controlplane"
	"github.com/regoresilience/rego/engine"
	"github.com/regoresilience/rego/observe"
	"github.com/regoresilience/rego/policy"
)

// Small deterministic tests of cases the random scenarios reach only by
// chance, and their helpers.

var (
	caseKey   = policy.Key{Namespace: "case", Name: "Op"}
	errFlaky  = errors.New("flaky")
	errBroken = errors.New("broken")
)

// lastTimeline is an observer keeping the last finished timeline.
type lastTimeline struct {
	observe.Base
	mu sync.Mutex
	tl *observe.Timeline
}

func (o *lastTimeline) OnSuccess(_ context.Context, tl *observe.Timeline) { o.set(tl) }
func (o *lastTimeline) OnFailure(_ context.Context, tl *observe.Timeline) { o.set(tl) }
func (o *lastTimeline) set(tl *observe.Timeline)                          { o.mu.Lock(); o.tl = tl; o.mu.Unlock() }
func (o *lastTimeline) get() *observe.Timeline {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.tl
}

// caseEngine returns an engine running p for every key, without key budgets
// (so that no budget refuses a retry or hedge), closed at the end of the test.
func caseEngine(t *testing.T, p policy.Policy) (*engine.Engine, *lastTimeline) {
	t.Helper()
	obs := &lastTimeline{}
	e, err := engine.New(engine.WithProvider(controlplane.NewStatic(map[string]policy.Policy{"*": p})),
		engine.WithKeyBudgets(nil, nil), engine.WithObserver(obs))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e, obs
}

// sleepCtx waits d or until ctx is done, like an op honouring its context.
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// attemptLog records when each attempt of an op started and ended.
type attemptLog struct {
	mu         sync.Mutex
	start, end map[int]time.Time
}

func newAttemptLog() *attemptLog {
	return &attemptLog{start: map[int]time.Time{}, end: map[int]time.Time{}}
}

// wrap runs body for each attempt, logging its start and end.
func (l *attemptLog) wrap(body func(ctx context.Context, index int) error) func(context.Context) error {
	return func(ctx context.Context) error {
		info, _ := observe.AttemptFromContext(ctx)
		l.mu.Lock()
		l.start[info.Index] = time.Now()
		l.mu.Unlock()
		err := body(ctx, info.Index)
		l.mu.Lock()
		l.end[info.Index] = time.Now()
		l.mu.Unlock()
		return err
	}
}

func (l *attemptLog) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.start)
}

// TestTimelineOrderAfterHedges verifies that a hedged round's attempts stay in
// start order on the timeline when hedge #2 ends before hedge #1 (fixed in
// 7ca8792; the stress tests found it).
func TestTimelineOrderAfterHedges(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e, _ := caseEngine(t, policy.Policy{Retry: policy.Retry{MaxAttempts: 1},
			Hedge: policy.Hedge{MaxHedges: 2, Delay: 10 * time.Millisecond}})
		ends := []time.Duration{30 * time.Millisecond, 40 * time.Millisecond, 5 * time.Millisecond} // #0 at 30ms, #1 at 50ms, #2 at 25ms
		tl, _ := e.DoWithTimeline(context.Background(), caseKey, func(ctx context.Context) error {
			info, _ := observe.AttemptFromContext(ctx)
			if err := sleepCtx(ctx, ends[info.Index]); err != nil {
				return err
			}
			return errFlaky
		})
		for i, rec := range tl.Attempts {
			if rec.Index != i {
				t.Errorf("Attempts[%d].Index = %d; observe.Timeline documents Attempts in start order, Attempts[i].Index == i\n%v",
					i, rec.Index, tl)
				break
			}
		}
	})
}

// TestPanicTimelineFails verifies that the timeline handed to OnFailure for a
// call whose op panicked does not report success and carries the panic (fixed
// in 7ca8792; the stress tests found it).
func TestPanicTimelineFails(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e, obs := caseEngine(t, policy.Policy{Retry: policy.Retry{MaxAttempts: 1}})
		func() {
			defer func() {
				if r := recover(); r != errBroken {
					t.Errorf("recovered %v, want the op's panic value", r)
				}
			}()
			e.Do(context.Background(), caseKey, func(context.Context) error { panic(errBroken) })
		}()
		tl := obs.get()
		var pe *engine.PanicError
		if tl == nil || tl.Succeeded() || !errors.As(tl.FinalErr, &pe) || pe.Value != errBroken {
			t.Errorf("OnFailure's timeline for a call whose op panicked: Succeeded() = %v, FinalErr %v; want false and a *engine.PanicError\n%v",
				tl.Succeeded(), tl.FinalErr, tl)
		}
	})
}

// TestRetryNeverStartsPastDeadline verifies that a retry whose backoff the
// wheel rounds up past the call's deadline is not started (fixed in 7ca8792).
// The call starts 300µs into the scheduler's first tick, so that the wheel's
// rounding to 1ms ticks shows.
func TestRetryNeverStartsPastDeadline(t *testing.T) {
	// Deadline 10.5ms after the call's start; #0 fails at once; the 10ms
	// backoff passes the check (10ms < 10.5ms) but the wheel wakes the call
	// at the next tick boundary, 10.7ms after its start.
	synctest.Test(t, func(t *testing.T) {
		e, _ := caseEngine(t, policy.Policy{Timeout: 10500 * time.Microsecond, Retry: policy.Retry{MaxAttempts: 2,
			InitialBackoff: 10 * time.Millisecond, MaxBackoff: 10 * time.Millisecond, Multiplier: 1, Jitter: policy.JitterNone}})
		time.Sleep(300 * time.Microsecond)
		checkNoAttemptAfter(t, e, 10500*time.Microsecond, func(ctx context.Context, i int) error { return errFlaky })
	})
}

func checkNoAttemptAfter(t *testing.T, e *engine.Engine, timeout time.Duration, body func(context.Context, int) error) {
	t.Helper()
	log := newAttemptLog()
	start := time.Now()
	tl, _ := e.DoWithTimeline(context.Background(), caseKey, log.wrap(body))
	synctest.Wait()
	log.mu.Lock()
	defer log.mu.Unlock()
	for i, s := range log.start {
		if d := s.Sub(start); d > timeout {
			t.Errorf("attempt #%d started %v after the call, past its %v Timeout\n%v", i, d, timeout, tl)
		}
	}
}
