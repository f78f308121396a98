package engine

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/regoresilience/rego/classify"
	"github.com/regoresilience/rego/observe"
)

// abortAll is a classifier that never retries an error: a common choice for
// non-idempotent operations that are still hedged on reads.
type abortAll struct{}

func (abortAll) Classify(_ context.Context, err error) classify.Verdict {
	if err == nil {
		return classify.Verdict{Outcome: classify.Success, Reason: classify.ReasonSuccess}
	}
	return classify.Verdict{Outcome: classify.Abort, Reason: "abort_all"}
}

// TestLostPrimaryDoesNotDecide verifies that when a hedge wins, the
// primary it cancelled cannot decide the round with its (cancellation) error,
// whatever the classifier says about that error.
func TestLostPrimaryDoesNotDecide(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := hedged(1, 10*time.Millisecond)
		p.Classifier = "abort-all"
		e := newEngine(t, withPolicy(p), WithClassifier("abort-all", abortAll{}))
		op := byAttempt([]time.Duration{time.Hour, time.Millisecond}, []error{nil, nil})
		tl, err := e.DoWithTimeline(context.Background(), key, op)
		if err != nil {
			t.Fatalf("the hedge succeeded but the call failed: %v\n%v", err, tl)
		}
		if len(tl.Attempts) != 2 || tl.Attempts[0].Reason != ReasonHedgeLost || tl.Attempts[1].Outcome != classify.Success {
			t.Errorf("timeline:\n%v", tl)
		}
	})
}

// TestLostHedgeDoesNotDecide is the same with two hedges: the winner's
// cancelled sibling may report before the winner does.
func TestLostHedgeDoesNotDecide(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := hedged(2, 10*time.Millisecond)
		p.Classifier = "abort-all"
		e := newEngine(t, withPolicy(p), WithClassifier("abort-all", abortAll{}))
		// Hedge 2 wins at 21ms; the primary and hedge 1 are cancelled.
		op := byAttempt([]time.Duration{time.Hour, time.Hour, time.Millisecond}, []error{nil, nil, nil})
		tl, err := e.DoWithTimeline(context.Background(), key, op)
		if err != nil {
			t.Fatalf("a hedge succeeded but the call failed: %v\n%v", err, tl)
		}
		if len(tl.Attempts) != 3 || tl.Attempts[2].Outcome != classify.Success || !hasEvent(tl, observe.EventHedgeFired) {
			t.Errorf("timeline:\n%v", tl)
		}
	})
}

// retryAll is a classifier that retries every error and ignores the caller's
// context (as a status-code classifier may).
type retryAll struct{}

func (retryAll) Classify(_ context.Context, err error) classify.Verdict {
	if err == nil {
		return classify.Verdict{Outcome: classify.Success, Reason: classify.ReasonSuccess}
	}
	return classify.Verdict{Outcome: classify.Retryable, Reason: classify.ReasonError}
}

// TestCancelDuringLastAttemptIsCanceled verifies that a call whose
// caller cancelled during its last attempt reports the cancellation
// (errors.Is(err, context.Canceled)), as it does when any earlier attempt is
// interrupted, even when the op returns an unrelated error and the classifier
// does not look at the context.
func TestCancelDuringLastAttemptIsCanceled(t *testing.T) {
	for _, attempts := range []int{1, 2} {
		p := fixed(attempts, time.Millisecond)
		p.Classifier = "retry-all"
		e := newEngine(t, withPolicy(p), WithClassifier("retry-all", retryAll{}))
		ctx, cancel := context.WithCancel(context.Background())
		calls := 0
		err := e.Do(ctx, key, func(context.Context) error {
			if calls++; calls == attempts {
				cancel() // the caller gives up while the last attempt runs
			}
			return errFlaky
		})
		cancel()
		var re *Error
		if !errors.Is(err, context.Canceled) || !errors.Is(err, errFlaky) || !errors.As(err, &re) || re.Reason != StopCanceled {
			t.Errorf("MaxAttempts %d: err = %v; want reason %q wrapping context.Canceled and the op's error", attempts, err, StopCanceled)
		}
	}
}

// TestLoserPanicAfterReturnIsDropped pins what doc.go says: a hedge
// that rego cancelled as a loser and that panics once its call has returned
// cannot reach the caller; the call's own result stands.
func TestLoserPanicAfterReturnIsDropped(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEngine(t, withPolicy(hedged(1, 5*time.Millisecond)))
		err := e.Do(context.Background(), key, func(ctx context.Context) error {
			if info, _ := observe.AttemptFromContext(ctx); info.Hedge {
				<-ctx.Done()
				panic("loser boom")
			}
			return wait(ctx, 10*time.Millisecond)
		})
		if err != nil {
			t.Fatalf("err = %v", err)
		}
		synctest.Wait() // the loser has panicked, been recovered, and ended
	})
}
