package engine_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/regoresilience/rego/controlplane"
	"github.com/regoresilience/rego/engine"
	"github.com/regoresilience/rego/policy"
)

// A key whose backend is down: once half of its last attempts (at least 4)
// failed, the breaker opens and calls fail at once, without running the op,
// for 30 seconds.
func Example_breaker() {
	policies := controlplane.NewStatic(map[string]policy.Policy{
		"payments.*": {
			Retry:   policy.Retry{MaxAttempts: 1},
			Breaker: policy.Breaker{FailureRate: 50, MinCalls: 4, OpenDuration: 30 * time.Second},
		},
	})
	exec, err := engine.New(engine.WithProvider(policies))
	if err != nil {
		panic(err)
	}
	defer exec.Close()

	key := policy.ParseKey("payments.Charge")
	down := func(context.Context) error { return errors.New("503 Service Unavailable") }
	for range 4 {
		fmt.Println(exec.Do(context.Background(), key, down))
	}
	err = exec.Do(context.Background(), key, down)
	fmt.Println(errors.Is(err, engine.ErrBreakerOpen), err)
	// Output:
	// rego: payments.Charge: exhausted after 1 attempt: 503 Service Unavailable
	// rego: payments.Charge: exhausted after 1 attempt: 503 Service Unavailable
	// rego: payments.Charge: exhausted after 1 attempt: 503 Service Unavailable
	// rego: payments.Charge: exhausted after 1 attempt: 503 Service Unavailable
	// true rego: payments.Charge: breaker_open after 0 attempts (rego: circuit breaker open)
}
