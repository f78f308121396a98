package rego_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/regoresilience/rego"
	"github.com/regoresilience/rego/controlplane"
	"github.com/regoresilience/rego/engine"
	"github.com/regoresilience/rego/policy"
)

type User struct{ Name string }

// The happy path: a call site names its key, the policy decides what happens.
func ExampleDoValue() {
	getUser := func(ctx context.Context, id int) (User, error) { return User{Name: "ada"}, nil }

	user, err := rego.DoValue(context.Background(), rego.ParseKey("user-service.GetUser"),
		func(ctx context.Context) (User, error) { return getUser(ctx, 42) })
	fmt.Println(user.Name, err)
	// Output: ada <nil>
}

// A timeline shows what happened: here one failure, a backoff, then success.
func ExampleDoWithTimeline() {
	exec, err := rego.NewExecutor(engine.WithProvider(controlplane.NewStatic(map[string]rego.Policy{
		"inventory.*": {Retry: policy.Retry{MaxAttempts: 3, InitialBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond}},
	})))
	if err != nil {
		panic(err)
	}
	defer exec.Close()

	calls := 0
	tl, err := exec.DoWithTimeline(context.Background(), rego.ParseKey("inventory.Reserve"), func(ctx context.Context) error {
		calls++
		if calls == 1 {
			return errors.New("connection reset")
		}
		return nil
	})
	fmt.Println("err:", err)
	fmt.Println("attempts:", len(tl.Attempts), "policy:", tl.Pattern)
	for _, a := range tl.Attempts {
		fmt.Printf("#%d %s %s\n", a.Index, a.Outcome, a.Reason)
	}
	// Output:
	// err: <nil>
	// attempts: 2 policy: inventory.*
	// #0 retryable error
	// #1 success success
}

// Permanent stops retries; errors.Is still finds the original error.
func ExamplePermanent() {
	errNotFound := errors.New("not found")
	err := rego.Do(context.Background(), rego.ParseKey("user-service.GetUser"), func(ctx context.Context) error {
		return rego.Permanent(errNotFound)
	})
	var re *engine.Error
	fmt.Println(errors.Is(err, errNotFound), errors.As(err, &re) && re.Attempts == 1, re.Reason)
	// Output: true true abort
}

// An op can tag its logs and requests with the attempt it runs in.
func ExampleAttemptFromContext() {
	rego.Do(context.Background(), rego.ParseKey("payments.Charge"), func(ctx context.Context) error {
		info, _ := rego.AttemptFromContext(ctx)
		fmt.Println(info.Key, "attempt", info.Index, "hedge", info.Hedge)
		return nil
	})
	// Output: payments.Charge attempt 0 hedge false
}

func ExampleParseKey() {
	k0 := rego.ParseKey("db.Users.Query")
	fmt.Printf("%q %q\n", k0.Namespace, k0.Name)
	k := rego.ParseKey("GET /users/123")
	fmt.Println(k.Validate() != nil)
	// Output:
	// "db" "Users.Query"
	// true
}

// A key that fails Key.Validate is refused before the op runs: a typo or a
// key carrying request data shows up on its first call.
func ExampleErrInvalidKey() {
	err := rego.Do(context.Background(), rego.ParseKey("users.GetUser/42"), func(ctx context.Context) error {
		fmt.Println("not reached")
		return nil
	})
	fmt.Println(errors.Is(err, rego.ErrInvalidKey))
	var ke *policy.KeyError
	if errors.As(err, &ke) {
		fmt.Println(ke.Key)
	}
	// Output:
	// true
	// users.GetUser/42
}
