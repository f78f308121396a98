package rego_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/regoresilience/rego"
	"github.com/regoresilience/rego/budget"
	"github.com/regoresilience/rego/classify"
	"github.com/regoresilience/rego/controlplane"
	"github.com/regoresilience/rego/engine"
	"github.com/regoresilience/rego/observe"
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

// The examples below hold the code blocks of README.md and docs/*.md, so that
// every block compiles (docs_test.go checks that each block appears here or
// in another .go file). The fakes stand in for a service's own clients.

// userClient is a fake client of a user service.
type userClient struct{}

func (userClient) GetUser(ctx context.Context, id int) (User, error) { return User{Name: "ada"}, nil }

// README: Quick start, the default executor.
func Example_quickStart() {
	ctx := context.Background()
	client, userID := userClient{}, 42

	user, err := rego.DoValue(ctx, rego.ParseKey("user-service.GetUser"),
		func(ctx context.Context) (User, error) {
			return client.GetUser(ctx, userID) // honour ctx: rego cancels through it
		})
	fmt.Println(user.Name, err)
	// Output: ada <nil>
}

// README: Quick start, an executor with policies. Compiled, not run: it
// replaces the default executor and prints timings.
func Example_quickStartExecutor() {
	ctx := context.Background()
	logger := slog.Default()
	getUser := func(ctx context.Context) (User, error) { return User{Name: "ada"}, nil }

	exec, err := rego.NewExecutor(
		engine.WithProvider(controlplane.NewStatic(map[string]rego.Policy{
			"user-service.GetUser": {
				Retry:   policy.Retry{MaxAttempts: 4, InitialBackoff: 20 * time.Millisecond, AttemptTimeout: 300 * time.Millisecond},
				Hedge:   policy.Hedge{MaxHedges: 1, Percentile: 95, Delay: 100 * time.Millisecond},
				Timeout: time.Second,
			},
			"user-service.*": {Retry: policy.Retry{MaxAttempts: 2}},
			"*":              {},
		})),
		engine.WithObserver(observe.NewSlogObserver(logger)),
	)
	if err != nil {
		log.Fatal(err) // every bad option or policy is an error here, never a panic later
	}
	defer exec.Close()
	rego.SetDefault(exec) // optional: make rego.Do use it

	user, tl, err := engine.DoValueWithTimeline(exec, ctx, rego.ParseKey("user-service.GetUser"), getUser)
	fmt.Println(tl) // every attempt, wait, hedge and fallback
	fmt.Println(user.Name, err)
}

// userStore is a fake store behind the users.GetUser call site.
type userStore struct{}

func (userStore) Get(ctx context.Context, id int) (User, error) { return User{Name: "grace"}, nil }

// usersClient is the code around one call site, with the call's policy beside it.
type usersClient struct {
	exec  *rego.Executor
	users userStore
}

func newUsersClient(users userStore) (*usersClient, error) {
	exec, err := rego.NewExecutor(engine.WithProvider(controlplane.NewStatic(map[string]rego.Policy{
		"users.GetUser": {
			Retry:   policy.Retry{MaxAttempts: 4, InitialBackoff: 20 * time.Millisecond, AttemptTimeout: 300 * time.Millisecond},
			Timeout: time.Second,
		},
	})))
	if err != nil {
		return nil, err
	}
	return &usersClient{exec: exec, users: users}, nil
}

func (c *usersClient) GetUser(ctx context.Context, id int) (User, error) {
	return engine.DoValue(c.exec, ctx, rego.ParseKey("users.GetUser"), func(ctx context.Context) (User, error) {
		return c.users.Get(ctx, id)
	})
}

// Close stops the executor's timers and key state.
func (c *usersClient) Close() error { return c.exec.Close() }

// docs/policies.md: a policy in code next to the call, through a static
// provider.
func ExampleNewExecutor_policyNextToTheCall() {
	c, err := newUsersClient(userStore{})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	user, err := c.GetUser(context.Background(), 7)
	fmt.Println(user.Name, err)
	// Output: grace <nil>
}

var (
	ErrNotFound  = errors.New("user not found")
	ErrThrottled = errors.New("throttled")
)

// statusClient is a fake HTTP-ish client that answers with a fixed status.
type statusClient struct{ status int }

func (c statusClient) GetUser(ctx context.Context, id int) (*http.Response, error) {
	return &http.Response{StatusCode: c.status, Header: http.Header{}}, nil
}

// parseRetryAfter reads delay-seconds only; regohttp.ParseRetryAfter reads
// both forms of the header.
func parseRetryAfter(v string) (time.Duration, error) {
	n, err := strconv.Atoi(v)
	return time.Duration(n) * time.Second, err
}

// docs/classifiers.md: marking errors.
func ExamplePermanent_marks() {
	ctx := context.Background()
	client, id := statusClient{status: http.StatusNotFound}, 42

	err := rego.Do(ctx, rego.ParseKey("users.GetUser"), func(ctx context.Context) error {
		resp, err := client.GetUser(ctx, id)
		switch {
		case err != nil:
			return err // retried (the default for unknown errors)
		case resp.StatusCode == http.StatusNotFound:
			return rego.Permanent(ErrNotFound) // never retried
		case resp.StatusCode == http.StatusTooManyRequests:
			d, _ := parseRetryAfter(resp.Header.Get("Retry-After"))
			return rego.RetryAfter(ErrThrottled, d) // retried, no sooner than d (d <= 0: just retried)
		}
		return nil
	})
	fmt.Println(errors.Is(err, ErrNotFound)) // true when the answer was a 404: marks are transparent
	// Output: true
}

// Job is a fake asynchronous job.
type Job struct{ State string }

type jobStore struct{}

func (jobStore) Get(ctx context.Context, id int) (Job, error) { return Job{State: "done"}, nil }

var errPending = errors.New("job still pending")

// docs/classifiers.md: retrying on a result value.
func ExampleDoValue_retryOnResult() {
	ctx := context.Background()
	jobs, id := jobStore{}, 1

	job, err := rego.DoValue(ctx, rego.ParseKey("jobs.Poll"), func(ctx context.Context) (Job, error) {
		j, err := jobs.Get(ctx, id)
		if err != nil {
			return Job{}, err
		}
		if j.State == "pending" {
			return Job{}, errPending // a value worth retrying: retried like any other error
		}
		return j, nil
	})
	fmt.Println(job.State, err)
	// Output: done <nil>
}

// docs/classifiers.md: registering a classifier by name.
func ExampleNewExecutor_classifier() {
	httpClassifier := classify.Func(func(ctx context.Context, err error) classify.Verdict {
		return classify.Default.Classify(ctx, err)
	})

	exec, err := rego.NewExecutor(engine.WithClassifier("http", httpClassifier))
	if err != nil {
		log.Fatal(err)
	}
	defer exec.Close()
	fmt.Println(exec.Do(context.Background(), rego.ParseKey("users.GetUser"), func(context.Context) error { return nil }))
	// Output: <nil>
}

// docs/observability.md: asking for a timeline. Compiled, not run: the
// timeline's durations differ from run to run.
func ExampleDoWithTimeline_print() {
	ctx := context.Background()
	getUser := func(ctx context.Context) error { return nil }

	tl, err := rego.DoWithTimeline(ctx, rego.ParseKey("user-service.GetUser"), getUser)
	fmt.Println(tl)
	fmt.Println(err)
}

type failures struct {
	observe.Base
	n atomic.Int64
}

func (f *failures) OnFailure(context.Context, *observe.Timeline) { f.n.Add(1) }

// docs/observability.md: observers.
func ExampleNewExecutor_observers() {
	logObs := observe.NewSlogObserver(slog.New(slog.DiscardHandler))

	exec, err := rego.NewExecutor(engine.WithObserver(&failures{}), engine.WithObserver(logObs))
	if err != nil {
		log.Fatal(err)
	}
	defer exec.Close()
	fmt.Println(exec.Do(context.Background(), rego.ParseKey("users.GetUser"), func(context.Context) error { return nil }))
	// Output: <nil>
}

func tagAttempt(ctx context.Context, req *http.Request) {
	if a, ok := rego.AttemptFromContext(ctx); ok {
		req.Header.Set("X-Attempt", strconv.Itoa(a.Index))
	}
}

// docs/observability.md: which attempt am I?
func ExampleAttemptFromContext_tagRequest() {
	rego.Do(context.Background(), rego.ParseKey("users.GetUser"), func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://users.internal/users/42", nil)
		if err != nil {
			return rego.Permanent(err)
		}
		tagAttempt(ctx, req)
		fmt.Println("X-Attempt:", req.Header.Get("X-Attempt"))
		return nil
	})
	// Output: X-Attempt: 0
}

// docs/budgets.md: sharing budgets between keys.
func ExampleNewExecutor_sharedBudgets() {
	shared, err := budget.NewTokenBucket(budget.TokenBucketConfig{MaxTokens: 100, TokenRatio: 0.1})
	if err != nil {
		log.Fatal(err)
	}
	hedges, err := budget.NewConcurrency(budget.ConcurrencyConfig{Max: 4})
	if err != nil {
		log.Fatal(err)
	}
	exec, err := rego.NewExecutor(
		engine.WithBudget("payments", shared),
		engine.WithBudget("db-hedges", hedges),
		engine.WithProvider(controlplane.NewStatic(map[string]policy.Policy{
			"payments.*": {RetryBudget: "payments"},
			"db.*":       {Hedge: policy.Hedge{MaxHedges: 1, Delay: 20 * time.Millisecond}, HedgeBudget: "db-hedges"},
		})),
	)
	if err != nil {
		log.Fatal(err)
	}
	defer exec.Close()
	tl, err := exec.DoWithTimeline(context.Background(), rego.ParseKey("payments.Charge"), func(context.Context) error { return nil })
	fmt.Println(tl.Pattern, err)
	// Output: payments.* <nil>
}

// docs/dynamic-policies.md: the file and remote providers. Compiled, not
// run: they need a policy file and a control plane.
func ExampleNewExecutor_dynamicPolicies() {
	ctx := context.Background()
	logger := slog.Default()

	p, err := controlplane.NewFile("policies.json",
		controlplane.WithPollInterval(time.Second), // the default
		controlplane.WithLogger(logger))
	if err != nil {
		// e.g. controlplane: policies.json: policies["users.GetUser"].retry.max_attempts: must be >= 1
		log.Fatal(err)
	}
	defer p.Close()
	exec, err := rego.NewExecutor(engine.WithProvider(p))
	if err != nil {
		log.Fatal(err)
	}
	defer exec.Close()

	st := p.Status()
	// st.Source              "static" | "file" | "remote" | "cache" | "fallback"
	// st.Version             increases with every accepted document; 0 = none yet
	// st.Digest              SHA-256 of the document in force
	// st.LastSuccess         the last load that worked (including 304s)
	// st.LastError           the most recent failure, and st.LastErrorAt when it happened
	// st.ConsecutiveFailures 0 when the latest load succeeded
	fmt.Println(st.Source, st.Version)

	p.(controlplane.Reloader).Reload(ctx)

	remote, err := controlplane.NewRemote("https://config.internal/rego/policies",
		controlplane.WithRefreshInterval(30*time.Second),      // ±10% jitter
		controlplane.WithRequestTimeout(5*time.Second),        // per fetch, body included
		controlplane.WithBackoff(time.Second, 30*time.Second), // while the server fails
		controlplane.WithMaxBytes(1<<20),                      // larger bodies are refused, never read past the limit
		controlplane.WithInitialTimeout(3*time.Second),        // how long NewRemote waits for the first document
		controlplane.WithCacheFile("/var/cache/myapp/rego-policies.json"))
	if err != nil {
		log.Fatal(err) // only for invalid options: bad URL scheme, non-positive durations...
	}
	defer remote.Close()

	local, err := controlplane.NewRemote("http://127.0.0.1:8700/policies",
		controlplane.WithRefreshInterval(2*time.Second))
	if err != nil {
		log.Fatal(err)
	}
	defer local.Close()
}

// pricingService is a fake pricing client that is down.
type pricingService struct{}

func (pricingService) Quote(ctx context.Context, sku string) (float64, error) {
	return 0, rego.Permanent(errors.New("pricing is down"))
}

// docs/comparison.md: a fallback is the caller's code after an error.
func ExampleDoValue_fallback() {
	ctx := context.Background()
	pricing, sku, cachedPrice := pricingService{}, "sku-1", 9.99

	price, err := rego.DoValue(ctx, rego.ParseKey("pricing.Quote"), func(ctx context.Context) (float64, error) {
		return pricing.Quote(ctx, sku)
	})
	if err != nil {
		price = cachedPrice // the fallback: ordinary code, after the call
	}
	fmt.Println(price)
	// Output: 9.99
}

type database struct{}

func (database) Query(ctx context.Context) error { return nil }

var errBulkheadFull = errors.New("db: too many queries in flight")

// docs/comparison.md: a bulkhead over every call of a key.
func ExampleDo_bulkhead() {
	ctx := context.Background()
	slots := make(chan struct{}, 16)
	db := database{}

	err := rego.Do(ctx, rego.ParseKey("db.Query"), func(ctx context.Context) error {
		select {
		case slots <- struct{}{}: // at most cap(slots) attempts in flight
			defer func() { <-slots }()
		default:
			return rego.Permanent(errBulkheadFull) // full: fail at once, not retried
		}
		return db.Query(ctx)
	})
	fmt.Println(err)
	// Output: <nil>
}

// docs/comparison.md: a gRPC service config's retry policy and retry
// throttling as a rego policy and a token-bucket budget.
func ExampleNewExecutor_fromGRPCServiceConfig() {
	throttle, err := budget.NewTokenBucket(budget.TokenBucketConfig{MaxTokens: 10, TokenRatio: 0.1})
	if err != nil {
		log.Fatal(err)
	}
	exec, err := rego.NewExecutor(
		engine.WithBudget("inventory-throttle", throttle),
		engine.WithProvider(controlplane.NewStatic(map[string]rego.Policy{
			"inventory.*": {
				Timeout: 2 * time.Second,
				Retry: policy.Retry{MaxAttempts: 4, InitialBackoff: 100 * time.Millisecond,
					MaxBackoff: time.Second, Multiplier: 2},
				RetryBudget: "inventory-throttle",
			},
		})),
	)
	if err != nil {
		log.Fatal(err)
	}
	defer exec.Close()
	tl, err := exec.DoWithTimeline(context.Background(), rego.ParseKey("inventory.GetStock"), func(context.Context) error { return nil })
	fmt.Println(tl.Pattern, err)
	// Output: inventory.* <nil>
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
