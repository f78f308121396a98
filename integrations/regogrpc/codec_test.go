package regogrpc_test

import (
	"context"
	"encoding/json"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/encoding"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/status"

	"github.com/regoresilience/rego/integrations/regogrpc"
	"github.com/regoresilience/rego/policy"
)

// jsonCodec lets a client use plain Go structs (not proto.Messages) as
// requests and replies; the server decodes them into the generated types,
// whose fields carry json tags.
type jsonCodec struct{}

func (jsonCodec) Marshal(v any) ([]byte, error)      { return json.Marshal(v) }
func (jsonCodec) Unmarshal(data []byte, v any) error { return json.Unmarshal(data, v) }
func (jsonCodec) Name() string                       { return "regogrpc-test-json" }

func init() { encoding.RegisterCodec(jsonCodec{}) }

// plainReply is a reply that is not a proto.Message.
type plainReply struct {
	Username string `json:"username"`
}

// TestNonProtoReply verifies replies that are not proto.Messages: attempts
// are retried, each writing into the caller's reply in turn, and hedges are
// not sent (ErrHedgeSkipped).
func TestNonProtoReply(t *testing.T) {
	var calls atomic.Int32
	addr := startServer(t, &testServer{unary: func(ctx context.Context, _ *testgrpc.SimpleRequest) (*testgrpc.SimpleResponse, error) {
		switch calls.Add(1) {
		case 1:
			return nil, status.Error(codes.Unavailable, "warming up")
		case 2:
			<-ctx.Done() // slow enough for a hedge to fire
			return nil, status.FromContextError(ctx.Err()).Err()
		}
		return &testgrpc.SimpleResponse{Username: "ada"}, nil
	}})
	p := policy.Policy{
		Retry: policy.Retry{MaxAttempts: 3, InitialBackoff: time.Millisecond, MaxBackoff: time.Millisecond, AttemptTimeout: 200 * time.Millisecond},
		Hedge: policy.Hedge{MaxHedges: 1, Delay: time.Millisecond},
	}
	exec, obs := newExec(t, p)
	conn := dialConn(t, addr, exec)

	var reply plainReply
	err := conn.Invoke(ctxTimeout(t), "/grpc.testing.TestService/UnaryCall", &struct{}{}, &reply,
		grpc.CallContentSubtype(jsonCodec{}.Name()))
	if err != nil || reply.Username != "ada" {
		t.Fatalf("reply %+v, err %v", reply, err)
	}
	got := reasons(obs.last(t))
	if !slices.Contains(got, regogrpc.ReasonHedgeSkipped) || !slices.Contains(got, "success") {
		t.Errorf("reasons %q: want a skipped hedge and a success", got)
	}
	if calls.Load() != 3 {
		t.Errorf("%d calls reached the server, want 3 (no hedge sent)", calls.Load())
	}
}
