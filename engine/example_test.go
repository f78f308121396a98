package engine_test

import (
	"context"
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
