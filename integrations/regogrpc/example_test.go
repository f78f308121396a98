package regogrpc_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/status"

	"github.com/regoresilience/rego"
	"github.com/regoresilience/rego/controlplane"
	"github.com/regoresilience/rego/engine"
	"github.com/regoresilience/rego/integrations/regogrpc"
	"github.com/regoresilience/rego/policy"
)

// serveExample serves srv on 127.0.0.1 and returns its address and a stop
// function.
func serveExample(srv *testServer) (string, func()) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	s := grpc.NewServer()
	testgrpc.RegisterTestServiceServer(s, srv)
	go s.Serve(lis)
	return lis.Addr().String(), s.Stop
}

// A connection whose calls follow the policy of their service (the README's
// example).
func Example() {
	target, creds := "127.0.0.1:1", insecure.NewCredentials()
	exec, err := rego.NewExecutor(regogrpc.WithGRPCClassifier(), engine.WithProvider(controlplane.NewStatic(map[string]policy.Policy{
		"pkg.v1.UserService.*": {Retry: policy.Retry{MaxAttempts: 3}, Classifier: regogrpc.ClassifierName},
	})))
	conn, dialErr := grpc.NewClient(target, append(regogrpc.DialOptions(exec), grpc.WithTransportCredentials(creds))...)
	if err != nil || dialErr != nil {
		panic(errors.Join(err, dialErr))
	}
	defer exec.Close()
	defer conn.Close()
	fmt.Println(regogrpc.DefaultKey("/pkg.v1.UserService/GetUser"))
	// Output: pkg.v1.UserService.GetUser
}

// A client whose calls run under rego policies: the server is unavailable
// once; the caller only sees the answer that followed.
func ExampleDialOptions() {
	var calls atomic.Int32
	addr, stop := serveExample(&testServer{unary: func(context.Context, *testgrpc.SimpleRequest) (*testgrpc.SimpleResponse, error) {
		if calls.Add(1) == 1 {
			return nil, status.Error(codes.Unavailable, "warming up")
		}
		return &testgrpc.SimpleResponse{Username: "ada"}, nil
	}})
	defer stop()

	exec, err := rego.NewExecutor(
		regogrpc.WithGRPCClassifier(),
		engine.WithProvider(controlplane.NewStatic(map[string]policy.Policy{
			"grpc.testing.TestService.*": {
				Retry:      policy.Retry{MaxAttempts: 3, InitialBackoff: time.Millisecond, AttemptTimeout: time.Second},
				Classifier: regogrpc.ClassifierName,
			},
		})),
	)
	if err != nil {
		panic(err)
	}
	defer exec.Close()
	conn, err := grpc.NewClient(addr, append(regogrpc.DialOptions(exec),
		grpc.WithTransportCredentials(insecure.NewCredentials()))...)
	if err != nil {
		panic(err)
	}
	defer conn.Close()

	reply, err := testgrpc.NewTestServiceClient(conn).UnaryCall(context.Background(), &testgrpc.SimpleRequest{})
	fmt.Println(reply.GetUsername(), err, "after", calls.Load(), "calls")
	// Output: ada <nil> after 2 calls
}

// How full method names become policy keys, and which pattern selects every
// method of one service.
func ExampleDefaultKey() {
	fmt.Println(regogrpc.DefaultKey("/pkg.v1.UserService/GetUser"))
	fmt.Printf("%#v\n", regogrpc.DefaultKey("/pkg.v1.UserService/GetUser"))
	set, _ := policy.NewSet(map[string]policy.Policy{"pkg.v1.UserService.*": {}})
	_, pattern, _ := set.Resolve(regogrpc.DefaultKey("/pkg.v1.UserService/ListUsers"))
	fmt.Println(pattern)
	// Output:
	// pkg.v1.UserService.GetUser
	// policy.Key{Namespace:"pkg", Name:"v1.UserService.GetUser"}
	// pkg.v1.UserService.*
}

// More retryable codes for some methods, as a service config's
// retryableStatusCodes: register a classifier under a name of your own and
// select it in those methods' policies.
func ExampleNewClassifier() {
	exec, err := rego.NewExecutor(
		regogrpc.WithGRPCClassifier(),
		engine.WithClassifier("grpc-idempotent", regogrpc.NewClassifier(codes.Aborted, codes.Internal)),
		engine.WithProvider(controlplane.NewStatic(map[string]policy.Policy{
			"pkg.v1.UserService.*":         {Retry: policy.Retry{MaxAttempts: 3}, Classifier: regogrpc.ClassifierName},
			"pkg.v1.UserService.GetUser":   {Retry: policy.Retry{MaxAttempts: 4}, Classifier: "grpc-idempotent"},
			"pkg.v1.UserService.ListUsers": {Hedge: policy.Hedge{MaxHedges: 1, Delay: 50 * time.Millisecond}, Classifier: "grpc-idempotent"},
		})),
	)
	if err != nil {
		panic(err)
	}
	defer exec.Close()

	v := regogrpc.NewClassifier(codes.Aborted).Classify(context.Background(), status.Error(codes.Aborted, "conflict"))
	fmt.Println(v)
	v = regogrpc.Classifier{}.Classify(context.Background(), status.Error(codes.Aborted, "conflict"))
	fmt.Println(v)
	// Output:
	// retryable grpc_aborted
	// abort grpc_aborted
}

// A nil executor means rego's default one, as for regohttp; interceptors can
// also be installed one by one, with other interceptors around them.
func ExampleUnaryClientInterceptor() {
	opts := []grpc.DialOption{
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithChainUnaryInterceptor(regogrpc.UnaryClientInterceptor(nil)),
		grpc.WithChainStreamInterceptor(regogrpc.StreamClientInterceptor(nil, regogrpc.WithRetryBufferSize(64<<10))),
		grpc.WithDisableRetry(),
	}
	conn, err := grpc.NewClient("127.0.0.1:1", opts...)
	if err != nil {
		panic(err)
	}
	defer conn.Close()
	fmt.Println(conn.Target())
	// Output: 127.0.0.1:1
}
