package regogrpc_test

import (
	"context"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/protobuf/proto"

	"github.com/regoresilience/rego/engine"
	"github.com/regoresilience/rego/integrations/regogrpc"
	"github.com/regoresilience/rego/policy"
)

// builtinRetry is a service config that turns on grpc-go's own retries for
// the test service, as a user without rego would.
const builtinRetry = `{"methodConfig": [{
  "name": [{"service": "grpc.testing.TestService"}],
  "retryPolicy": {"maxAttempts": 3, "initialBackoff": "0.01s", "maxBackoff": "0.1s",
    "backoffMultiplier": 2, "retryableStatusCodes": ["UNAVAILABLE"]}
}]}`

// BenchmarkUnary measures one loopback unary RPC (TCP on 127.0.0.1) that
// succeeds at once: bare (grpc-go's defaults), bare with grpc's retries
// disabled, through regogrpc (a 3-attempt policy with the grpc classifier),
// and with grpc-go's built-in retry policy from a service config. Compare the rows of one run:
//
//	go test -run '^$' -bench Unary -benchmem -count 6 > bench.txt
//	go run golang.org/x/perf/cmd/benchstat@latest -col /client bench.txt
func BenchmarkUnary(b *testing.B) {
	addr := startServer(b, &testServer{unary: func(context.Context, *testgrpc.SimpleRequest) (*testgrpc.SimpleResponse, error) {
		return payload("ok"), nil
	}})
	// No observer: timelines are built only for observers (or when asked).
	exec, err := engine.New(regogrpc.WithGRPCClassifier(), engine.WithProvider(staticProvider(map[string]policy.Policy{
		"*": {Retry: retries(3).Retry, Classifier: regogrpc.ClassifierName},
	})))
	if err != nil {
		b.Fatal(err)
	}
	defer exec.Close()
	creds := grpc.WithTransportCredentials(insecure.NewCredentials())
	for _, bc := range []struct {
		name string
		opts []grpc.DialOption
	}{
		{"client=bare", []grpc.DialOption{creds}},
		// grpc-go's retry machinery is on by default (transparent retries,
		// the replay buffer); DialOptions turns it off, as this row does.
		{"client=bare-noretry", []grpc.DialOption{creds, grpc.WithDisableRetry()}},
		{"client=rego", append(regogrpc.DialOptions(exec), creds)},
		{"client=grpc-retry", []grpc.DialOption{creds, grpc.WithDefaultServiceConfig(builtinRetry)}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			conn, err := grpc.NewClient("passthrough:///"+addr, bc.opts...)
			if err != nil {
				b.Fatal(err)
			}
			defer conn.Close()
			client := testgrpc.NewTestServiceClient(conn)
			ctx := context.Background()
			req := &testgrpc.SimpleRequest{}
			if _, err := client.UnaryCall(ctx, req); err != nil { // connect
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := client.UnaryCall(ctx, req); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkInterceptorOverhead isolates what the unary interceptor adds to
// a call, without the network: the invoker only unmarshals a canned reply.
// On a noisy machine this is the precise number; BenchmarkUnary puts it in
// proportion to a real loopback RPC. (The fake invoker ignores grpc.Trailer,
// so the trailer copy grpc makes for a real call is not counted here.)
func BenchmarkInterceptorOverhead(b *testing.B) {
	wire, err := proto.Marshal(payload("ok"))
	if err != nil {
		b.Fatal(err)
	}
	invoker := func(_ context.Context, _ string, _, reply any, _ *grpc.ClientConn, _ ...grpc.CallOption) error {
		return proto.Unmarshal(wire, reply.(proto.Message))
	}
	exec, err := engine.New(regogrpc.WithGRPCClassifier(), engine.WithProvider(staticProvider(map[string]policy.Policy{
		"*": {Retry: retries(3).Retry, Classifier: regogrpc.ClassifierName},
	})))
	if err != nil {
		b.Fatal(err)
	}
	defer exec.Close()
	intercept := regogrpc.UnaryClientInterceptor(exec)
	const method = "/grpc.testing.TestService/UnaryCall"
	ctx := context.Background()
	req := &testgrpc.SimpleRequest{}
	b.Run("invoker=direct", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			reply := new(testgrpc.SimpleResponse)
			if err := invoker(ctx, method, req, reply, nil); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("invoker=rego", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			reply := new(testgrpc.SimpleResponse)
			if err := intercept(ctx, method, req, reply, nil, invoker); err != nil {
				b.Fatal(err)
			}
		}
	})
}
