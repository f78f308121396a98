package engine_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/regoresilience/rego/budget"
	"github.com/regoresilience/rego/controlplane"
	"github.com/regoresilience/rego/engine"
	"github.com/regoresilience/rego/observe"
	"github.com/regoresilience/rego/policy"
)

// An engine with policies by key pattern, a shared budget and an observer.
func ExampleNew() {
	shared, _ := budget.NewConcurrency(budget.ConcurrencyConfig{Max: 64})
	e, err := engine.New(
		engine.WithProvider(controlplane.NewStatic(map[string]policy.Policy{
			"user-service.GetUser": {
				Retry:       policy.Retry{MaxAttempts: 3, InitialBackoff: 10 * time.Millisecond, AttemptTimeout: 200 * time.Millisecond},
				Hedge:       policy.Hedge{MaxHedges: 1, Percentile: 95, Delay: 50 * time.Millisecond},
				Timeout:     time.Second,
				RetryBudget: "user-service",
			},
			"*": {Retry: policy.Retry{MaxAttempts: 2}},
		})),
		engine.WithBudget("user-service", shared),
		engine.WithObserver(observe.NewSlogObserver(nil)),
	)
	if err != nil {
		panic(err)
	}
	defer e.Close()

	name, err := engine.DoValue(e, context.Background(), policy.ParseKey("user-service.GetUser"),
		func(ctx context.Context) (string, error) { return "ada", nil })
	fmt.Println(name, err)
	// Output: ada <nil>
}

// attemptLog is an AttemptHook that prints each attempt's start and end;
// a tracing hook starts a span in StartAttempt and ends it in EndAttempt.
type attemptLog struct{}

type attemptName struct{}

func (attemptLog) StartAttempt(ctx context.Context, info observe.AttemptInfo) context.Context {
	name := fmt.Sprintf("attempt %d", info.Index)
	fmt.Println("start", name)
	return context.WithValue(ctx, attemptName{}, name) // the op's context: derived from the attempt's
}

func (attemptLog) EndAttempt(ctx context.Context, end engine.AttemptEnd) {
	fmt.Println("end", ctx.Value(attemptName{}), end.Outcome, end.Err)
}

// An attempt hook sees every attempt of a call, retries included, and
// gives the operation the context it returned.
func ExampleWithAttemptHook() {
	e, err := engine.New(
		engine.WithDefaultPolicy(policy.Policy{Retry: policy.Retry{MaxAttempts: 2, InitialBackoff: time.Millisecond}}),
		engine.WithAttemptHook(attemptLog{}),
	)
	if err != nil {
		panic(err)
	}
	defer e.Close()

	calls := 0
	err = e.Do(context.Background(), policy.ParseKey("user-service.GetUser"), func(ctx context.Context) error {
		if calls++; calls == 1 {
			return errors.New("connection reset")
		}
		return nil
	})
	fmt.Println(err)
	// Output:
	// start attempt 0
	// end attempt 0 retryable connection reset
	// start attempt 1
	// end attempt 1 success <nil>
	// <nil>
}
