package regogrpc_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"google.golang.org/grpc"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/regoresilience/rego/policy"
)

// TestHedgeSlowReplica verifies hedging against a slow replica: the hedge
// answers, its reply (and only its) reaches the caller, the slow attempt is
// cancelled and its server handler sees the cancel, and the hedge carries
// grpc-previous-rpc-attempts.
func TestHedgeSlowReplica(t *testing.T) {
	slowCanceled := make(chan error, 1)
	hedgeHeader := make(chan string, 1)
	addr := startServer(t, &testServer{unary: func(ctx context.Context, _ *testgrpc.SimpleRequest) (*testgrpc.SimpleResponse, error) {
		if prev := previousAttempts(ctx); prev != "" {
			hedgeHeader <- prev
			grpc.SetHeader(ctx, metadata.Pairs("replica", "fast"))
			return payload("fast"), nil
		}
		grpc.SetHeader(ctx, metadata.Pairs("replica", "slow"))
		<-ctx.Done() // the slow replica answers only when rego gives up on it
		slowCanceled <- ctx.Err()
		return payload("slow"), nil
	}})
	exec, obs := newExec(t, policy.Policy{
		Retry: policy.Retry{MaxAttempts: 1},
		Hedge: policy.Hedge{MaxHedges: 1, Delay: 5 * time.Millisecond},
	})
	client := dial(t, addr, exec)

	var header metadata.MD
	reply, err := client.UnaryCall(ctxTimeout(t), &testgrpc.SimpleRequest{}, grpc.Header(&header))
	if err != nil {
		t.Fatalf("UnaryCall: %v", err)
	}
	if got := string(reply.GetPayload().GetBody()); got != "fast" {
		t.Errorf("reply %q, want the hedge's", got)
	}
	if got := header.Get("replica"); !slices.Equal(got, []string{"fast"}) {
		t.Errorf("grpc.Header got %q, want the winner's", got)
	}
	if got := waitFor(t, hedgeHeader); got != "1" {
		t.Errorf("hedge's grpc-previous-rpc-attempts %q, want 1", got)
	}
	if err := waitFor(t, slowCanceled); err != context.Canceled {
		t.Errorf("slow handler's ctx ended with %v, want context.Canceled", err)
	}
	tl := obs.last(t)
	if !tl.Hedged() || len(tl.Attempts) != 2 || !tl.Attempts[0].Canceled {
		t.Errorf("timeline %+v: want a hedged call whose first attempt was cancelled", tl.Attempts)
	}
}

// TestHedgeRepliesNeverShared runs hedged calls whose attempts all answer,
// so that the race detector sees any write of two attempts into one reply,
// and checks that each reply is one attempt's, whole.
func TestHedgeRepliesNeverShared(t *testing.T) {
	addr := startServer(t, &testServer{unary: func(ctx context.Context, req *testgrpc.SimpleRequest) (*testgrpc.SimpleResponse, error) {
		who := "primary"
		if previousAttempts(ctx) != "" {
			who = "hedge"
		}
		return &testgrpc.SimpleResponse{Payload: &testgrpc.Payload{Body: []byte(who)}, Username: who}, nil
	}})
	exec, _ := newExec(t, policy.Policy{
		Retry: policy.Retry{MaxAttempts: 1},
		Hedge: policy.Hedge{MaxHedges: 2, Delay: time.Microsecond},
	})
	client := dial(t, addr, exec)
	for range 50 {
		reply, err := client.UnaryCall(ctxTimeout(t), &testgrpc.SimpleRequest{})
		if err != nil {
			t.Fatal(status.Convert(err))
		}
		if string(reply.GetPayload().GetBody()) != reply.GetUsername() {
			t.Fatalf("reply mixes attempts: %v", reply)
		}
	}
}
