package regogrpc_test

import (
	"context"
	"errors"
	"io"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/regoresilience/rego/classify"
	"github.com/regoresilience/rego/integrations/regogrpc"
)

func streamReq(s string) *testgrpc.StreamingOutputCallRequest {
	return &testgrpc.StreamingOutputCallRequest{Payload: &testgrpc.Payload{Body: []byte(s)}}
}

// readAll receives the client's messages until it closes its side.
func readAll(stream testgrpc.TestService_FullDuplexCallServer) ([]string, error) {
	var got []string
	for {
		req, err := stream.Recv()
		if err == io.EOF {
			return got, nil
		}
		if err != nil {
			return got, err
		}
		got = append(got, string(req.GetPayload().GetBody()))
	}
}

// sendAndDrain sends msgs, closes the sending side and receives every
// response, returning their bodies and the final error (nil for io.EOF).
func sendAndDrain(t *testing.T, client testgrpc.TestServiceClient, ctx context.Context, msgs ...string) ([]string, error) {
	t.Helper()
	stream, err := client.FullDuplexCall(ctx)
	if err != nil {
		return nil, err
	}
	for _, m := range msgs {
		if err := stream.Send(streamReq(m)); err != nil {
			t.Fatalf("Send(%q): %v", m, err)
		}
	}
	if err := stream.CloseSend(); err != nil {
		t.Fatalf("CloseSend: %v", err)
	}
	var got []string
	for {
		resp, err := stream.Recv()
		if err == io.EOF {
			return got, nil
		}
		if err != nil {
			return got, err
		}
		got = append(got, string(resp.GetPayload().GetBody()))
	}
}

// TestStreamRetryBeforeCommit verifies that a stream that fails before the
// server sent anything is retried, with the client's messages (and its
// CloseSend) replayed on the new stream, and grpc-previous-rpc-attempts.
func TestStreamRetryBeforeCommit(t *testing.T) {
	var mu sync.Mutex
	var attempts [][]string
	var prev []string
	addr := startServer(t, &testServer{fullDuplex: func(stream testgrpc.TestService_FullDuplexCallServer) error {
		got, err := readAll(stream)
		if err != nil {
			return err
		}
		mu.Lock()
		attempts = append(attempts, got)
		prev = append(prev, previousAttempts(stream.Context()))
		n := len(attempts)
		mu.Unlock()
		if n == 1 {
			return status.Error(codes.Unavailable, "restarting") // trailers only: not committed
		}
		for _, m := range got {
			if err := stream.Send(&testgrpc.StreamingOutputCallResponse{Payload: &testgrpc.Payload{Body: []byte("echo " + m)}}); err != nil {
				return err
			}
		}
		return nil
	}})
	exec, obs := newExec(t, retries(3))
	client := dial(t, addr, exec)

	got, err := sendAndDrain(t, client, ctxTimeout(t), "a", "b", "c")
	if err != nil {
		t.Fatalf("stream: %v", err)
	}
	if want := []string{"echo a", "echo b", "echo c"}; !slices.Equal(got, want) {
		t.Errorf("responses %q, want %q", got, want)
	}
	if len(attempts) != 2 || !slices.Equal(attempts[0], attempts[1]) {
		t.Errorf("server saw %q: want the same messages replayed on the second attempt", attempts)
	}
	if !slices.Equal(prev, []string{"", "1"}) {
		t.Errorf("grpc-previous-rpc-attempts %q", prev)
	}
	if got := reasons(obs.last(t)); !slices.Equal(got, []string{"grpc_unavailable", "success"}) {
		t.Errorf("reasons %q", got)
	}
}

// TestStreamNoRetryAfterCommit verifies that a stream is not retried once the
// server sent headers or a message: the caller sees the failure.
func TestStreamNoRetryAfterCommit(t *testing.T) {
	for _, tt := range []struct {
		name string
		sent []string // responses before the failure
	}{
		{"after_headers", nil},
		{"after_first_message", []string{"first"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var calls atomic.Int32
			addr := startServer(t, &testServer{fullDuplex: func(stream testgrpc.TestService_FullDuplexCallServer) error {
				calls.Add(1)
				if _, err := readAll(stream); err != nil {
					return err
				}
				if err := stream.SendHeader(metadata.Pairs("x", "y")); err != nil {
					return err
				}
				for _, m := range tt.sent {
					if err := stream.Send(&testgrpc.StreamingOutputCallResponse{Payload: &testgrpc.Payload{Body: []byte(m)}}); err != nil {
						return err
					}
				}
				return status.Error(codes.Unavailable, "crashed")
			}})
			exec, obs := newExec(t, retries(3))
			client := dial(t, addr, exec)
			got, err := sendAndDrain(t, client, ctxTimeout(t), "a")
			if status.Code(err) != codes.Unavailable || calls.Load() != 1 {
				t.Fatalf("err %v after %d calls, want UNAVAILABLE after 1", err, calls.Load())
			}
			if !slices.Equal(got, tt.sent) {
				t.Errorf("responses %q, want %q", got, tt.sent)
			}
			if got := reasons(obs.last(t)); !slices.Equal(got, []string{"success"}) {
				t.Errorf("reasons %q: the call ends at the commit", got)
			}
		})
	}
}

// TestStreamBufferOverflowCommits verifies that a stream whose messages
// overflow the replay buffer commits and is not retried.
func TestStreamBufferOverflowCommits(t *testing.T) {
	var calls atomic.Int32
	addr := startServer(t, &testServer{fullDuplex: func(stream testgrpc.TestService_FullDuplexCallServer) error {
		calls.Add(1)
		if _, err := readAll(stream); err != nil {
			return err
		}
		return status.Error(codes.Unavailable, "restarting")
	}})
	exec, _ := newExec(t, retries(3))
	client := dial(t, addr, exec, regogrpc.WithRetryBufferSize(16))

	_, err := sendAndDrain(t, client, ctxTimeout(t), "small", "this one does not fit in 16 bytes")
	if status.Code(err) != codes.Unavailable || calls.Load() != 1 {
		t.Fatalf("err %v after %d calls, want UNAVAILABLE after 1", err, calls.Load())
	}

	// Within the bound, the same failure is retried.
	calls.Store(0)
	client = dial(t, addr, exec, regogrpc.WithRetryBufferSize(1024))
	_, err = sendAndDrain(t, client, ctxTimeout(t), "small", "this one does fit in 1024 bytes")
	if status.Code(err) != codes.Unavailable || calls.Load() != 3 {
		t.Fatalf("err %v after %d calls, want UNAVAILABLE after 3", err, calls.Load())
	}
}

// TestStreamPushbackStop verifies that a negative pushback on a stream that
// is not committed stops the retries.
func TestStreamPushbackStop(t *testing.T) {
	var calls atomic.Int32
	addr := startServer(t, &testServer{fullDuplex: func(stream testgrpc.TestService_FullDuplexCallServer) error {
		calls.Add(1)
		stream.SetTrailer(metadata.Pairs(regogrpc.PushbackKey, "-1"))
		return status.Error(codes.Unavailable, "go away")
	}})
	exec, obs := newExec(t, retries(3))
	client := dial(t, addr, exec)
	_, err := sendAndDrain(t, client, ctxTimeout(t))
	if status.Code(err) != codes.Unavailable || calls.Load() != 1 {
		t.Fatalf("err %v after %d calls, want UNAVAILABLE after 1", err, calls.Load())
	}
	if got := reasons(obs.last(t)); !slices.Equal(got, []string{regogrpc.ReasonPushbackStop}) {
		t.Errorf("reasons %q", got)
	}
}

// TestStreamCallerCancelBeforeCommit verifies that the caller's cancel ends a
// stream waiting for its commit: Recv returns CANCELLED, nothing is retried,
// the handler sees the cancel, and no goroutine is left (TestMain).
func TestStreamCallerCancelBeforeCommit(t *testing.T) {
	entered := make(chan struct{}, 4)
	handlerDone := make(chan error, 4)
	addr := startServer(t, &testServer{fullDuplex: func(stream testgrpc.TestService_FullDuplexCallServer) error {
		entered <- struct{}{}
		<-stream.Context().Done()
		handlerDone <- stream.Context().Err()
		return nil
	}})
	exec, obs := newExec(t, retries(3))
	client := dial(t, addr, exec)

	ctx, cancel := context.WithCancel(ctxTimeout(t))
	stream, err := client.FullDuplexCall(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(streamReq("a")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, entered)
	cancel()
	_, err = stream.Recv()
	if status.Code(err) != codes.Canceled || !errors.Is(err, context.Canceled) {
		t.Fatalf("Recv: %v, want CANCELLED", err)
	}
	waitFor(t, handlerDone)
	if n := len(obs.last(t).Attempts); n != 1 {
		t.Errorf("%d attempts, want 1", n)
	}
}

// TestStreamOK verifies a plain stream through the interceptor, including
// an OK end with no response at all.
func TestStreamOK(t *testing.T) {
	addr := startServer(t, &testServer{fullDuplex: func(stream testgrpc.TestService_FullDuplexCallServer) error {
		got, err := readAll(stream)
		if err != nil || len(got) == 0 {
			return err
		}
		return stream.Send(&testgrpc.StreamingOutputCallResponse{Payload: &testgrpc.Payload{Body: []byte(got[0])}})
	}})
	exec, _ := newExec(t, retries(3))
	client := dial(t, addr, exec)
	for _, msgs := range [][]string{{"x"}, nil} {
		got, err := sendAndDrain(t, client, ctxTimeout(t), msgs...)
		if err != nil || !slices.Equal(got, msgs) {
			t.Errorf("sent %q: got %q, %v", msgs, got, err)
		}
	}
}

// TestStreamOpenFailures verifies that a stream that cannot be opened is
// retried, and that NewStream returns the error when no attempt could open
// one. The failures are injected by an interceptor chained after rego's, as a
// connection-level error would be.
func TestStreamOpenFailures(t *testing.T) {
	addr := startServer(t, &testServer{fullDuplex: func(stream testgrpc.TestService_FullDuplexCallServer) error {
		got, err := readAll(stream)
		if err != nil || len(got) == 0 {
			return err
		}
		return stream.Send(&testgrpc.StreamingOutputCallResponse{Payload: &testgrpc.Payload{Body: []byte(got[0])}})
	}})
	for _, tt := range []struct {
		name     string
		failures int32
		wantErr  codes.Code
		opens    int32
	}{
		{"retried", 2, codes.OK, 3},
		{"exhausted", 5, codes.Unavailable, 3},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var opens atomic.Int32
			failing := func(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string,
				streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
				if opens.Add(1) <= tt.failures {
					return nil, status.Error(codes.Unavailable, "no connection")
				}
				return streamer(ctx, desc, cc, method, opts...)
			}
			exec, _ := newExec(t, retries(3))
			dopts := append(regogrpc.DialOptions(exec), grpc.WithTransportCredentials(insecure.NewCredentials()),
				grpc.WithChainStreamInterceptor(failing))
			conn, err := grpc.NewClient("passthrough:///"+addr, dopts...)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			got, err := sendAndDrain(t, testgrpc.NewTestServiceClient(conn), ctxTimeout(t), "hi")
			if status.Code(err) != tt.wantErr || opens.Load() != tt.opens {
				t.Fatalf("got %q, err %v after %d opens; want %v after %d", got, err, opens.Load(), tt.wantErr, tt.opens)
			}
			if tt.wantErr == codes.OK && !slices.Equal(got, []string{"hi"}) {
				t.Errorf("responses %q", got)
			}
		})
	}
}

// TestStreamAttemptTimeoutBeforeCommit verifies that an attempt that gets no
// headers within the attempt timeout is retried, its messages replayed, and
// that the committed stream then outlives the attempt timeout.
func TestStreamAttemptTimeoutBeforeCommit(t *testing.T) {
	const attemptTimeout = 200 * time.Millisecond
	var calls atomic.Int32
	addr := startServer(t, &testServer{fullDuplex: func(stream testgrpc.TestService_FullDuplexCallServer) error {
		if calls.Add(1) == 1 {
			<-stream.Context().Done() // silent until the attempt timeout cancels it
			return nil
		}
		got, err := readAll(stream)
		if err != nil {
			return err
		}
		if err := stream.SendHeader(metadata.MD{}); err != nil { // commit
			return err
		}
		// Answer only after the attempt timeout has passed: the committed
		// stream must not be cancelled by it.
		select {
		case <-time.After(2 * attemptTimeout):
		case <-stream.Context().Done():
			return stream.Context().Err()
		}
		return stream.Send(&testgrpc.StreamingOutputCallResponse{Payload: &testgrpc.Payload{Body: []byte(got[0])}})
	}})
	p := retries(3)
	p.Retry.AttemptTimeout = attemptTimeout
	exec, obs := newExec(t, p)
	client := dial(t, addr, exec)

	stream, err := client.FullDuplexCall(ctxTimeout(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(streamReq("replayed")); err != nil {
		t.Fatal(err)
	}
	if err := stream.CloseSend(); err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Header(); err != nil { // returns at the commit
		t.Fatal(err)
	}
	if got := reasons(obs.last(t)); !slices.Equal(got, []string{classify.ReasonAttemptTimeout, "success"}) {
		t.Errorf("reasons %q", got)
	}
	resp, err := stream.Recv()
	if err != nil || string(resp.GetPayload().GetBody()) != "replayed" {
		t.Fatalf("Recv = %v, %v; want the replayed message echoed", resp, err)
	}
	if _, err := stream.Recv(); err != io.EOF {
		t.Errorf("final Recv: %v, want io.EOF", err)
	}
}
