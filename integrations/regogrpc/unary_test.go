package regogrpc_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/regoresilience/rego/classify"
	"github.com/regoresilience/rego/engine"
	"github.com/regoresilience/rego/integrations/regogrpc"
	"github.com/regoresilience/rego/observe"
	"github.com/regoresilience/rego/policy"
)

// payload is a reply that names the attempt that made it.
func payload(s string) *testgrpc.SimpleResponse {
	return &testgrpc.SimpleResponse{Payload: &testgrpc.Payload{Body: []byte(s)}, Username: "user"}
}

// TestUnaryRetriesUnavailable verifies that UNAVAILABLE is retried, that
// every retry carries grpc-previous-rpc-attempts, and that the caller gets
// the successful attempt's reply.
func TestUnaryRetriesUnavailable(t *testing.T) {
	var mu sync.Mutex
	var seen []string
	addr := startServer(t, &testServer{unary: func(ctx context.Context, _ *testgrpc.SimpleRequest) (*testgrpc.SimpleResponse, error) {
		mu.Lock()
		seen = append(seen, previousAttempts(ctx))
		n := len(seen)
		mu.Unlock()
		if n < 3 {
			return nil, status.Error(codes.Unavailable, "warming up")
		}
		return payload("third"), nil
	}})
	exec, obs := newExec(t, retries(4))
	client := dial(t, addr, exec)

	var trailer metadata.MD
	reply, err := client.UnaryCall(ctxTimeout(t), &testgrpc.SimpleRequest{}, grpc.Trailer(&trailer))
	if err != nil {
		t.Fatalf("UnaryCall: %v", err)
	}
	if got := string(reply.GetPayload().GetBody()); got != "third" {
		t.Errorf("reply %q, want the third attempt's", got)
	}
	if want := []string{"", "1", "2"}; !slices.Equal(seen, want) {
		t.Errorf("grpc-previous-rpc-attempts seen by the server: %q, want %q", seen, want)
	}
	if trailer == nil {
		t.Error("grpc.Trailer target not set")
	}
	if got, want := reasons(obs.last(t)), []string{"grpc_unavailable", "grpc_unavailable", "success"}; !slices.Equal(got, want) {
		t.Errorf("reasons %q, want %q", got, want)
	}
}

// TestUnaryNotRetried verifies that codes other than UNAVAILABLE end the
// call at once, and that the caller sees the server's status unchanged plus
// the engine's error.
func TestUnaryNotRetried(t *testing.T) {
	var calls atomic.Int32
	addr := startServer(t, &testServer{unary: func(context.Context, *testgrpc.SimpleRequest) (*testgrpc.SimpleResponse, error) {
		calls.Add(1)
		return nil, status.Error(codes.InvalidArgument, "bad name")
	}})
	exec, obs := newExec(t, retries(4))
	client := dial(t, addr, exec)

	_, err := client.UnaryCall(ctxTimeout(t), &testgrpc.SimpleRequest{})
	st, ok := status.FromError(err)
	if !ok || st.Code() != codes.InvalidArgument || st.Message() != "bad name" {
		t.Fatalf("status %v (ok %v), want the server's INVALID_ARGUMENT \"bad name\"", st, ok)
	}
	ee, ok := errors.AsType[*engine.Error](err)
	if !ok || ee.Reason != engine.StopAbort || ee.Attempts != 1 {
		t.Errorf("engine error %+v, want abort after 1 attempt", ee)
	}
	if calls.Load() != 1 {
		t.Errorf("%d calls reached the server, want 1", calls.Load())
	}
	if got := reasons(obs.last(t)); !slices.Equal(got, []string{"grpc_invalid_argument"}) {
		t.Errorf("reasons %q", got)
	}
}

// TestUnaryExhausted verifies the status after the attempts ran out: the
// last attempt's.
func TestUnaryExhausted(t *testing.T) {
	var calls atomic.Int32
	addr := startServer(t, &testServer{unary: func(context.Context, *testgrpc.SimpleRequest) (*testgrpc.SimpleResponse, error) {
		calls.Add(1)
		return nil, status.Error(codes.Unavailable, "down")
	}})
	exec, _ := newExec(t, retries(3))
	client := dial(t, addr, exec)
	_, err := client.UnaryCall(ctxTimeout(t), &testgrpc.SimpleRequest{})
	if status.Code(err) != codes.Unavailable || calls.Load() != 3 {
		t.Fatalf("err %v after %d calls, want UNAVAILABLE after 3", err, calls.Load())
	}
	if ee, ok := errors.AsType[*engine.Error](err); !ok || ee.Reason != engine.StopAttempts {
		t.Errorf("engine error %v, want exhausted", err)
	}
}

// TestPushback verifies gRFC A6 pushback: a valid grpc-retry-pushback-ms is
// the wait before the next attempt (capped by MaxRetryAfter) and makes
// RESOURCE_EXHAUSTED retryable; a negative or unparseable one stops the
// retries.
func TestPushback(t *testing.T) {
	for _, tt := range []struct {
		name      string
		code      codes.Code
		pushback  []string
		calls     int32
		reason    string
		wantWait  time.Duration // the pushback event's duration; 0 = none
		wantFinal codes.Code
	}{
		{"positive", codes.Unavailable, []string{"3"}, 2, "grpc_unavailable", 3 * time.Millisecond, codes.OK},
		{"capped", codes.Unavailable, []string{"600000"}, 2, "grpc_unavailable", 5 * time.Millisecond, codes.OK},
		{"resource_exhausted", codes.ResourceExhausted, []string{"0"}, 2, "grpc_resource_exhausted", 0, codes.OK},
		{"resource_exhausted_no_pushback", codes.ResourceExhausted, nil, 1, "grpc_resource_exhausted", 0, codes.ResourceExhausted},
		{"negative", codes.Unavailable, []string{"-1"}, 1, regogrpc.ReasonPushbackStop, 0, codes.Unavailable},
		{"garbage", codes.Unavailable, []string{"soon"}, 1, regogrpc.ReasonPushbackStop, 0, codes.Unavailable},
		{"two_values", codes.Unavailable, []string{"1", "2"}, 1, regogrpc.ReasonPushbackStop, 0, codes.Unavailable},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var calls atomic.Int32
			addr := startServer(t, &testServer{unary: func(ctx context.Context, _ *testgrpc.SimpleRequest) (*testgrpc.SimpleResponse, error) {
				if calls.Add(1) > 1 {
					return payload("ok"), nil
				}
				for _, v := range tt.pushback {
					grpc.SetTrailer(ctx, metadata.Pairs(regogrpc.PushbackKey, v))
				}
				return nil, status.Error(tt.code, "busy")
			}})
			p := retries(3)
			p.Retry.MaxRetryAfter = 5 * time.Millisecond
			exec, obs := newExec(t, p)
			client := dial(t, addr, exec)

			var trailer metadata.MD
			_, err := client.UnaryCall(ctxTimeout(t), &testgrpc.SimpleRequest{}, grpc.Trailer(&trailer))
			if status.Code(err) != tt.wantFinal || calls.Load() != tt.calls {
				t.Fatalf("err %v after %d calls, want %v after %d", err, calls.Load(), tt.wantFinal, tt.calls)
			}
			if err != nil && !slices.Equal(trailer.Get(regogrpc.PushbackKey), tt.pushback) {
				t.Errorf("caller's trailer %v: want the failed attempt's pushback %q", trailer, tt.pushback)
			}
			tl := obs.last(t)
			if got := tl.Attempts[0].Reason; got != tt.reason {
				t.Errorf("first attempt's reason %q, want %q", got, tt.reason)
			}
			var wait time.Duration
			for _, ev := range tl.Events {
				if ev.Kind == observe.EventPushback {
					wait = ev.Duration
				}
			}
			if wait != tt.wantWait {
				t.Errorf("pushback event %v, want %v", wait, tt.wantWait)
			}
			if tt.wantWait > 0 && tl.Attempts[1].Backoff < tt.wantWait {
				t.Errorf("second attempt started after %v, want at least the pushback %v", tl.Attempts[1].Backoff, tt.wantWait)
			}
		})
	}
}

// TestUnaryCallerCancel verifies that the caller's cancel ends the call at
// once with CANCELLED and is not retried, and that the server's handler sees
// it.
func TestUnaryCallerCancel(t *testing.T) {
	entered := make(chan struct{}, 4)
	handlerDone := make(chan error, 4)
	addr := startServer(t, &testServer{unary: func(ctx context.Context, _ *testgrpc.SimpleRequest) (*testgrpc.SimpleResponse, error) {
		entered <- struct{}{}
		<-ctx.Done()
		handlerDone <- ctx.Err()
		return nil, status.FromContextError(ctx.Err()).Err()
	}})
	exec, obs := newExec(t, retries(5))
	client := dial(t, addr, exec)

	ctx, cancel := context.WithCancel(ctxTimeout(t))
	go func() {
		<-entered
		cancel()
	}()
	_, err := client.UnaryCall(ctx, &testgrpc.SimpleRequest{})
	if status.Code(err) != codes.Canceled || !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v, want CANCELLED matching context.Canceled", err)
	}
	waitFor(t, handlerDone)
	if n := len(obs.last(t).Attempts); n != 1 {
		t.Errorf("%d attempts, want 1", n)
	}
}

// TestUnaryCallerDeadline verifies that the caller's deadline ends the call
// with DEADLINE_EXCEEDED and is not retried.
func TestUnaryCallerDeadline(t *testing.T) {
	var calls atomic.Int32
	addr := startServer(t, &testServer{unary: func(ctx context.Context, _ *testgrpc.SimpleRequest) (*testgrpc.SimpleResponse, error) {
		calls.Add(1)
		<-ctx.Done()
		return nil, status.FromContextError(ctx.Err()).Err()
	}})
	exec, obs := newExec(t, retries(5))
	client := dial(t, addr, exec)

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	_, err := client.UnaryCall(ctx, &testgrpc.SimpleRequest{})
	if status.Code(err) != codes.DeadlineExceeded || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err %v, want DEADLINE_EXCEEDED matching context.DeadlineExceeded", err)
	}
	if n := len(obs.last(t).Attempts); n != 1 || calls.Load() > 1 {
		t.Errorf("%d attempts, %d server calls, want 1", n, calls.Load())
	}
}

// TestUnaryAttemptTimeout verifies that an attempt's own timeout is retried.
func TestUnaryAttemptTimeout(t *testing.T) {
	var calls atomic.Int32
	addr := startServer(t, &testServer{unary: func(ctx context.Context, _ *testgrpc.SimpleRequest) (*testgrpc.SimpleResponse, error) {
		if calls.Add(1) == 1 {
			<-ctx.Done() // the attempt timeout ends it
			return nil, status.FromContextError(ctx.Err()).Err()
		}
		return payload("second"), nil
	}})
	p := retries(3)
	p.Retry.AttemptTimeout = 200 * time.Millisecond
	exec, obs := newExec(t, p)
	client := dial(t, addr, exec)

	reply, err := client.UnaryCall(ctxTimeout(t), &testgrpc.SimpleRequest{})
	if err != nil || string(reply.GetPayload().GetBody()) != "second" {
		t.Fatalf("reply %v, err %v; want the second attempt's", reply, err)
	}
	if got := reasons(obs.last(t)); !slices.Equal(got, []string{classify.ReasonAttemptTimeout, "success"}) {
		t.Errorf("reasons %q", got)
	}
}

// TestUnaryExtraCodes verifies that a policy selecting a NewClassifier with
// more codes retries them, while the default "grpc" classifier does not.
func TestUnaryExtraCodes(t *testing.T) {
	var calls atomic.Int32
	addr := startServer(t, &testServer{unary: func(context.Context, *testgrpc.SimpleRequest) (*testgrpc.SimpleResponse, error) {
		if calls.Add(1)%2 == 1 {
			return nil, status.Error(codes.Internal, "flaky")
		}
		return payload("ok"), nil
	}})
	p := retries(3)
	p.Classifier = "grpc-internal"
	obs := &timelines{}
	exec, err := engine.New(
		engine.WithClassifier("grpc-internal", regogrpc.NewClassifier(codes.Internal)),
		engine.WithObserver(obs),
		engine.WithProvider(staticProvider(map[string]policy.Policy{"grpc.testing.TestService.*": p})),
	)
	if err != nil {
		t.Fatal(err)
	}
	defer exec.Close()
	client := dial(t, addr, exec)
	if _, err := client.UnaryCall(ctxTimeout(t), &testgrpc.SimpleRequest{}); err != nil {
		t.Fatalf("UnaryCall: %v", err)
	}
	if got := reasons(obs.last(t)); !slices.Equal(got, []string{"grpc_internal", "success"}) {
		t.Errorf("reasons %q", got)
	}
	if got := obs.last(t).Pattern; got != "grpc.testing.TestService.*" {
		t.Errorf("policy pattern %q, want the service's", got)
	}
}

// TestUnaryDefaultClassifier verifies that the interceptor's marks give
// classify.Default the same decisions: UNAVAILABLE retried, others not,
// negative pushback stops.
func TestUnaryDefaultClassifier(t *testing.T) {
	var calls atomic.Int32
	addr := startServer(t, &testServer{unary: func(ctx context.Context, req *testgrpc.SimpleRequest) (*testgrpc.SimpleResponse, error) {
		calls.Add(1)
		switch req.GetFillUsername() {
		case true:
			return nil, status.Error(codes.NotFound, "no")
		}
		if req.GetFillOauthScope() {
			grpc.SetTrailer(ctx, metadata.Pairs(regogrpc.PushbackKey, "-1"))
		}
		return nil, status.Error(codes.Unavailable, "down")
	}})
	p := retries(3)
	p.Classifier = ""
	obs := &timelines{}
	exec, err := engine.New(engine.WithObserver(obs), engine.WithProvider(staticProvider(map[string]policy.Policy{"*": p})))
	if err != nil {
		t.Fatal(err)
	}
	defer exec.Close()
	client := dial(t, addr, exec)
	for _, tt := range []struct {
		req   *testgrpc.SimpleRequest
		calls int32
	}{
		{&testgrpc.SimpleRequest{}, 3},
		{&testgrpc.SimpleRequest{FillUsername: true}, 1},
		{&testgrpc.SimpleRequest{FillOauthScope: true}, 1},
	} {
		calls.Store(0)
		if _, err := client.UnaryCall(ctxTimeout(t), tt.req); err == nil || calls.Load() != tt.calls {
			t.Errorf("%v: err %v after %d calls, want %d", tt.req, err, calls.Load(), tt.calls)
		}
	}
}

// waitFor receives from ch or fails after defaultTestTimeout.
func waitFor[T any](t testing.TB, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(defaultTestTimeout):
		t.Fatal("timed out waiting")
	}
	var zero T
	return zero
}

// TestUnaryFastPath verifies the engine's path without observer (the first
// attempt under the caller's context as it is): a retried call still gets
// grpc-previous-rpc-attempts, the winner's reply and trailer, also when the
// call runs inside another rego call's attempt (its context is the
// caller's), and a cancelled caller gets CANCELLED.
func TestUnaryFastPath(t *testing.T) {
	var calls atomic.Int32
	addr := startServer(t, &testServer{unary: func(ctx context.Context, _ *testgrpc.SimpleRequest) (*testgrpc.SimpleResponse, error) {
		if calls.Add(1)%2 == 1 {
			return nil, status.Error(codes.Unavailable, "warming up")
		}
		if got := previousAttempts(ctx); got != "1" {
			return nil, status.Errorf(codes.InvalidArgument, "grpc-previous-rpc-attempts %q, want 1", got)
		}
		return payload("second"), nil
	}})
	exec, err := engine.New(regogrpc.WithGRPCClassifier(), engine.WithProvider(staticProvider(map[string]policy.Policy{
		"*": {Retry: retries(3).Retry, Classifier: regogrpc.ClassifierName},
	})))
	if err != nil {
		t.Fatal(err)
	}
	defer exec.Close()
	client := dial(t, addr, exec)

	call := func(ctx context.Context) error {
		var trailer metadata.MD
		reply, err := client.UnaryCall(ctx, &testgrpc.SimpleRequest{}, grpc.Trailer(&trailer))
		if err != nil {
			return err
		}
		if got := string(reply.GetPayload().GetBody()); got != "second" {
			t.Errorf("reply %q, want the second attempt's", got)
		}
		if trailer == nil {
			t.Error("grpc.Trailer target not set")
		}
		return nil
	}
	if err := call(ctxTimeout(t)); err != nil {
		t.Fatalf("UnaryCall: %v", err)
	}
	outer, err := engine.New(engine.WithProvider(staticProvider(map[string]policy.Policy{"*": {}})))
	if err != nil {
		t.Fatal(err)
	}
	defer outer.Close()
	ctx, cancel := context.WithCancel(ctxTimeout(t))
	if err := outer.Do(ctx, policy.ParseKey("test.Outer"), call); err != nil {
		t.Fatalf("UnaryCall inside a rego call: %v", err)
	}
	cancel()
	if err := call(ctx); status.Code(err) != codes.Canceled {
		t.Errorf("after the caller's cancel: %v, want CANCELLED", err)
	}
}
