package regogrpc_test

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/metadata"

	"github.com/regoresilience/rego"
	"github.com/regoresilience/rego/controlplane"
	"github.com/regoresilience/rego/engine"
	"github.com/regoresilience/rego/integrations/regogrpc"
	"github.com/regoresilience/rego/observe"
	"github.com/regoresilience/rego/policy"
)

// defaultTestTimeout bounds waits for things that must happen; tests never
// sleep to wait for something.
const defaultTestTimeout = 10 * time.Second

// testServer is grpc's interop TestService with hooks: each test sets the
// handlers it needs. Handlers are read-only once the server runs.
type testServer struct {
	testgrpc.UnimplementedTestServiceServer
	unary      func(ctx context.Context, req *testgrpc.SimpleRequest) (*testgrpc.SimpleResponse, error)
	fullDuplex func(stream testgrpc.TestService_FullDuplexCallServer) error
}

func (s *testServer) UnaryCall(ctx context.Context, req *testgrpc.SimpleRequest) (*testgrpc.SimpleResponse, error) {
	return s.unary(ctx, req)
}

func (s *testServer) EmptyCall(context.Context, *testgrpc.Empty) (*testgrpc.Empty, error) {
	return &testgrpc.Empty{}, nil
}

func (s *testServer) FullDuplexCall(stream testgrpc.TestService_FullDuplexCallServer) error {
	return s.fullDuplex(stream)
}

// startServer serves srv on a real TCP listener on 127.0.0.1 and stops it
// when the test ends.
func startServer(t testing.TB, srv *testServer) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := grpc.NewServer()
	testgrpc.RegisterTestServiceServer(s, srv)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = s.Serve(lis)
	}()
	t.Cleanup(func() {
		s.Stop()
		<-done
	})
	return lis.Addr().String()
}

// dial connects to addr through regogrpc.DialOptions(exec, opts...).
func dial(t testing.TB, addr string, exec *engine.Engine, opts ...regogrpc.Option) testgrpc.TestServiceClient {
	t.Helper()
	return testgrpc.NewTestServiceClient(dialConn(t, addr, exec, opts...))
}

// dialConn is dial's connection, closed when the test ends.
func dialConn(t testing.TB, addr string, exec *engine.Engine, opts ...regogrpc.Option) *grpc.ClientConn {
	t.Helper()
	dopts := append(regogrpc.DialOptions(exec, opts...), grpc.WithTransportCredentials(insecure.NewCredentials()))
	conn, err := grpc.NewClient("passthrough:///"+addr, dopts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// timelines collects the timelines of finished calls.
type timelines struct {
	observe.Base
	mu  sync.Mutex
	tls []*observe.Timeline
}

func (o *timelines) OnSuccess(_ context.Context, tl *observe.Timeline) { o.add(tl) }
func (o *timelines) OnFailure(_ context.Context, tl *observe.Timeline) { o.add(tl) }

func (o *timelines) add(tl *observe.Timeline) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.tls = append(o.tls, tl)
}

// last returns the last finished call's timeline.
func (o *timelines) last(t testing.TB) *observe.Timeline {
	t.Helper()
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.tls) == 0 {
		t.Fatal("no call finished")
	}
	return o.tls[len(o.tls)-1]
}

// reasons lists the reasons of tl's attempts.
func reasons(tl *observe.Timeline) []string {
	var r []string
	for _, a := range tl.Attempts {
		r = append(r, a.Reason)
	}
	return r
}

// newExec returns an executor with the grpc classifier, the given policy for
// every key, and an observer that collects timelines; closed at the end.
func newExec(t testing.TB, p policy.Policy) (*engine.Engine, *timelines) {
	t.Helper()
	obs := &timelines{}
	if p.Classifier == "" {
		p.Classifier = regogrpc.ClassifierName
	}
	exec, err := rego.NewExecutor(
		regogrpc.WithGRPCClassifier(),
		engine.WithObserver(obs),
		engine.WithProvider(controlplane.NewStatic(map[string]policy.Policy{"*": p})),
	)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { exec.Close() })
	return exec, obs
}

// retries is a policy of n attempts with a tiny backoff.
func retries(n int) policy.Policy {
	return policy.Policy{Retry: policy.Retry{MaxAttempts: n, InitialBackoff: time.Millisecond, MaxBackoff: time.Millisecond}}
}

// previousAttempts returns the grpc-previous-rpc-attempts header a handler got.
func previousAttempts(ctx context.Context) string {
	md, _ := metadata.FromIncomingContext(ctx)
	if v := md.Get(regogrpc.PreviousAttemptsKey); len(v) > 0 {
		return v[0]
	}
	return ""
}

// ctxTimeout is a context for one test call.
func ctxTimeout(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), defaultTestTimeout)
	t.Cleanup(cancel)
	return ctx
}

// staticProvider is controlplane.NewStatic as an engine option argument.
func staticProvider(m map[string]policy.Policy) controlplane.Provider {
	return controlplane.NewStatic(m)
}
