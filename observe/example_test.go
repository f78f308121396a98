package observe_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync/atomic"
	"time"

	"github.com/regoresilience/rego/classify"
	"github.com/regoresilience/rego/observe"
	"github.com/regoresilience/rego/policy"
)

// exampleTimeline is what the engine would hand to observers after a call
// that failed once, waited 100ms and then succeeded.
func exampleTimeline() *observe.Timeline {
	start := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	return &observe.Timeline{
		Key:   policy.ParseKey("user-service.GetUser"),
		Start: start,
		End:   start.Add(142 * time.Millisecond),
		Attempts: []observe.AttemptRecord{
			{Index: 0, Start: start, End: start.Add(12 * time.Millisecond),
				Err: errors.New("connection reset"), Outcome: classify.Retryable, Reason: classify.ReasonError},
			{Index: 1, Start: start.Add(112 * time.Millisecond), End: start.Add(142 * time.Millisecond),
				Outcome: classify.Success, Reason: classify.ReasonSuccess, Backoff: 100 * time.Millisecond},
		},
		Pattern:       "user-service.*",
		PolicySource:  "file",
		PolicyVersion: 7,
	}
}

func ExampleTimeline_String() {
	fmt.Println(exampleTimeline())
	// Output:
	// user-service.GetUser  2 attempts  142ms  ok (policy "user-service.*" from file v7)
	//   #0 12ms retryable error: connection reset  backoff 0s  at +0s
	//   #1 30ms success  backoff 100ms  at +112ms
}

// The slog observer logs every attempt at Debug and the end of the call at
// Debug, Info (when it needed more than one attempt) or Warn (failure).
func ExampleNewSlogObserver() {
	logger := slog.New(slog.NewTextHandler(os.Stdout, &slog.HandlerOptions{
		Level: slog.LevelDebug,
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) == 0 && a.Key == slog.TimeKey {
				return slog.Attr{} // deterministic output for the example
			}
			return a
		},
	}))
	obs := observe.NewSlogObserver(logger)
	// With the engine: engine.New(engine.WithObserver(obs)). Here we replay
	// the callbacks of one call by hand.
	ctx := context.Background()
	tl := exampleTimeline()
	obs.OnStart(ctx, tl.Key)
	for _, rec := range tl.Attempts {
		obs.OnAttempt(ctx, tl.Key, rec)
	}
	obs.OnSuccess(ctx, tl)
	// Output:
	// level=DEBUG msg="rego attempt" key=user-service.GetUser attempt=0 hedge=false outcome=retryable reason=error duration=12ms err="connection reset"
	// level=DEBUG msg="rego attempt" key=user-service.GetUser attempt=1 hedge=false outcome=success reason=success duration=30ms backoff=100ms
	// level=INFO msg="rego call succeeded" key=user-service.GetUser attempts=2 duration=142ms outcome=success reason=success policy=user-service.* policy_source=file policy_version=7
}

// An operation can ask which attempt it is running, e.g. to tag a request.
func ExampleAttemptFromContext() {
	op := func(ctx context.Context) error {
		if a, ok := observe.AttemptFromContext(ctx); ok {
			fmt.Printf("%s attempt #%d hedge=%v\n", a.Key, a.Index, a.Hedge)
		} else {
			fmt.Println("not running under rego")
		}
		return nil
	}
	_ = op(context.Background())
	// The engine does this for every attempt; tests of op can do it too.
	ctx := observe.ContextWithAttempt(context.Background(),
		observe.AttemptInfo{Key: policy.ParseKey("billing.Charge"), Index: 1})
	_ = op(ctx)
	// Output:
	// not running under rego
	// billing.Charge attempt #1 hedge=false
}

// retryCounter embeds Base and implements only the callback it needs.
type retryCounter struct {
	observe.Base
	retried atomic.Int64
}

func (c *retryCounter) OnSuccess(_ context.Context, tl *observe.Timeline) {
	if len(tl.Attempts) > 1 {
		c.retried.Add(1)
	}
}

// Fanout combines observers; each sees every callback, in order.
func ExampleFanout() {
	counter := &retryCounter{}
	obs := observe.Fanout(counter, observe.NewSlogObserver(slog.New(slog.DiscardHandler)))
	obs.OnSuccess(context.Background(), exampleTimeline())
	fmt.Println("calls that needed a retry:", counter.retried.Load())
	// Output:
	// calls that needed a retry: 1
}
