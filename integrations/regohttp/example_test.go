package regohttp_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"time"

	"github.com/regoresilience/rego"
	"github.com/regoresilience/rego/classify"
	"github.com/regoresilience/rego/controlplane"
	"github.com/regoresilience/rego/engine"
	"github.com/regoresilience/rego/integrations/regohttp"
	"github.com/regoresilience/rego/observe"
	"github.com/regoresilience/rego/policy"
)

// A client whose requests are retried under the policy of their key. The
// server is busy once; the caller only sees the answer that followed.
func ExampleTransport() {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hits.Add(1) == 1 {
			w.Header().Set("Retry-After", "0")
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprint(w, "hello")
	}))
	defer srv.Close()

	exec, err := rego.NewExecutor(
		regohttp.WithHTTPClassifier(),
		engine.WithProvider(controlplane.NewStatic(map[string]policy.Policy{
			"http.*": {
				Retry:      policy.Retry{MaxAttempts: 3, InitialBackoff: time.Millisecond, AttemptTimeout: time.Second},
				Classifier: regohttp.ClassifierName,
			},
		})),
	)
	if err != nil {
		panic(err)
	}
	defer exec.Close()
	transport := regohttp.NewTransport(exec)
	defer transport.CloseIdleConnections()
	client := &http.Client{Transport: transport}

	resp, err := client.Get(srv.URL + "/greeting")
	if err != nil {
		panic(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Println(resp.StatusCode, string(body), "after", hits.Load(), "requests")
	// Output: 200 hello after 2 requests
}

// attemptPrinter prints each attempt's verdict as the engine records it.
type attemptPrinter struct{ observe.Base }

func (attemptPrinter) OnAttempt(_ context.Context, key policy.Key, rec observe.AttemptRecord) {
	fmt.Printf("%s attempt %d: %s %s\n", key, rec.Index, rec.Outcome, rec.Reason)
}

// Keys per route, and what the timeline says about a POST: it reached the
// server, so the transport does not send it again.
func ExampleWithKeyFunc() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "overloaded", http.StatusServiceUnavailable)
	}))
	defer srv.Close()

	exec, err := rego.NewExecutor(
		regohttp.WithHTTPClassifier(),
		engine.WithObserver(attemptPrinter{}),
		engine.WithProvider(controlplane.NewStatic(map[string]policy.Policy{
			"orders.*": {Retry: policy.Retry{MaxAttempts: 3, InitialBackoff: time.Millisecond}, Classifier: "http"},
		})),
	)
	if err != nil {
		panic(err)
	}
	defer exec.Close()
	transport := regohttp.NewTransport(exec, regohttp.WithKeyFunc(func(req *http.Request) rego.Key {
		if req.Method == http.MethodPost {
			return rego.ParseKey("orders.Create")
		}
		return rego.ParseKey("orders.Get")
	}))
	defer transport.CloseIdleConnections()
	client := &http.Client{Transport: transport}

	for _, method := range []string{http.MethodGet, http.MethodPost} {
		req, _ := http.NewRequest(method, srv.URL+"/orders", nil)
		resp, err := client.Do(req)
		if err != nil {
			panic(err)
		}
		resp.Body.Close()
		fmt.Println(method, "->", resp.StatusCode)
	}
	// Output:
	// orders.Get attempt 0: retryable http_503
	// orders.Get attempt 1: retryable http_503
	// orders.Get attempt 2: retryable http_503
	// GET -> 503
	// orders.Create attempt 0: abort http_not_idempotent
	// POST -> 503
}

func ExampleParseRetryAfter() {
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	for _, v := range []string{"120", "Sat, 01 Mar 2025 12:00:30 GMT", "Sat, 01 Mar 2025 11:00:00 GMT", "-1", "2m"} {
		d, ok := regohttp.ParseRetryAfter(v, now)
		fmt.Printf("%q: %v %v\n", v, d, ok)
	}
	// Output:
	// "120": 2m0s true
	// "Sat, 01 Mar 2025 12:00:30 GMT": 30s true
	// "Sat, 01 Mar 2025 11:00:00 GMT": 0s true
	// "-1": 0s false
	// "2m": 0s false
}

func ExampleClassifier() {
	c := regohttp.Classifier{}
	ctx := context.Background()
	for _, err := range []error{
		nil,
		&regohttp.StatusError{StatusCode: 429, RetryAfter: 2 * time.Second},
		&regohttp.StatusError{StatusCode: 404},
		errors.New("connection reset by peer"),
		classify.Permanent(&regohttp.NotRetriedError{Reason: regohttp.ReasonNotIdempotent, Err: errors.New("EOF")}),
	} {
		fmt.Println(c.Classify(ctx, err))
	}
	// Output:
	// success
	// retryable http_429 2s
	// abort http_404
	// retryable error
	// abort http_not_idempotent
}

// Policies per route: a hedged, named route and a default for every host. The
// client reads the status of whatever response it gets; an error means there
// was no response at all.
func ExampleNewTransport() {
	exec, err := rego.NewExecutor(
		regohttp.WithHTTPClassifier(), // registers regohttp.Classifier as "http"
		engine.WithProvider(controlplane.NewStatic(map[string]policy.Policy{
			"http.*": {
				Retry:      policy.Retry{MaxAttempts: 3, InitialBackoff: 50 * time.Millisecond, AttemptTimeout: 2 * time.Second},
				Classifier: "http",
			},
			"users.GetUser": {
				Retry:      policy.Retry{MaxAttempts: 2},
				Hedge:      policy.Hedge{MaxHedges: 1, Percentile: 95, Delay: 50 * time.Millisecond},
				Classifier: "http",
			},
		})),
	)
	if err != nil {
		panic(err)
	}
	defer exec.Close()

	client := &http.Client{Transport: regohttp.NewTransport(exec,
		regohttp.WithKeyFunc(func(req *http.Request) rego.Key {
			if req.URL.Host == "users.internal" && req.Method == http.MethodGet {
				return rego.ParseKey("users.GetUser") // name the route, never the request
			}
			return regohttp.DefaultKey(req) // "http.GET_api.example.com"
		}),
	)}
	resp, err := client.Get("http://users.internal/users/42")
	if err != nil {
		return // no response at all: refused connections, timeouts, the context ended
	}
	defer resp.Body.Close() // the body is untouched: read it, or just close it
	if resp.StatusCode >= 400 {
		return // the response that decided the call: a 404 at once, or the last 503
	}
}

// timelinePrinter prints what each finished call's timeline keeps of the
// error responses its attempts got.
type timelinePrinter struct{ observe.Base }

func (timelinePrinter) OnSuccess(_ context.Context, tl *observe.Timeline) {
	for _, a := range tl.Attempts {
		if se, ok := errors.AsType[*regohttp.StatusError](a.Err); ok {
			fmt.Printf("attempt %d: %d, request id %s, body %q\n",
				a.Index, se.StatusCode, se.Header.Get("X-Request-Id"), se.Excerpt())
		}
	}
}

// What a timeline keeps of a response discarded for a retry: its status, the
// headers that explain it and, since the transport drained its small HTTP/1
// body to reuse the connection, the start of that body. The response itself
// is closed.
func ExampleStatusError() {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hits.Add(1) == 1 {
			w.Header().Set("X-Request-Id", "req-1")
			http.Error(w, "overloaded", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprint(w, "hello")
	}))
	defer srv.Close()

	exec, err := rego.NewExecutor(
		regohttp.WithHTTPClassifier(),
		engine.WithObserver(timelinePrinter{}),
		engine.WithProvider(controlplane.NewStatic(map[string]policy.Policy{
			"http.*": {Retry: policy.Retry{MaxAttempts: 2, InitialBackoff: time.Millisecond}, Classifier: "http"},
		})),
	)
	if err != nil {
		panic(err)
	}
	defer exec.Close()
	transport := regohttp.NewTransport(exec)
	defer transport.CloseIdleConnections()

	resp, err := (&http.Client{Transport: transport}).Get(srv.URL)
	if err != nil {
		panic(err)
	}
	resp.Body.Close()
	fmt.Println(resp.StatusCode)
	// Output:
	// attempt 0: 503, request id req-1, body "overloaded\n"
	// 200
}
