// Package etcdtest starts a real single-node etcd server for tests, on
// 127.0.0.1 ports and in a temporary directory, and connects clients to it.
package etcdtest

import (
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"

	"github.com/regoresilience/rego/integrations/regoetcd/internal/devetcd"
)

// Server is a test's etcd server. Stop and Restart let a test take it down
// and bring it back on the same data directory and ports.
type Server struct {
	t   testing.TB
	cfg devetcd.Config
	srv *devetcd.Server
}

// Start starts a server that the test's cleanup stops.
func Start(t testing.TB) *Server {
	t.Helper()
	s := &Server{t: t, cfg: devetcd.Config{Dir: t.TempDir(), ClientAddr: "127.0.0.1:0", PeerAddr: "127.0.0.1:0"}}
	s.start()
	t.Cleanup(s.Stop)
	return s
}

func (s *Server) start() {
	s.t.Helper()
	srv, err := devetcd.Start(s.cfg)
	if err != nil {
		s.t.Fatalf("starting etcd: %v", err)
	}
	s.srv = srv
	s.cfg.ClientAddr, s.cfg.PeerAddr = srv.ClientAddr, srv.PeerAddr
}

// Endpoint returns the client URL.
func (s *Server) Endpoint() string { return "http://" + s.cfg.ClientAddr }

// Stop stops the server; idempotent.
func (s *Server) Stop() {
	if s.srv != nil {
		s.srv.Close()
		s.srv = nil
	}
}

// Restart starts the stopped server again on the same data directory and ports.
func (s *Server) Restart() {
	s.t.Helper()
	if s.srv != nil {
		s.t.Fatal("Restart: server is running")
	}
	s.start()
}

// Rebuild replaces the stopped server with a new, empty one on the same ports:
// a cluster rebuilt from scratch, whose revisions start over.
func (s *Server) Rebuild() {
	s.t.Helper()
	if s.srv != nil {
		s.t.Fatal("Rebuild: server is running")
	}
	s.cfg.Dir = s.t.TempDir()
	s.start()
}

// Client returns a client of the server that the test's cleanup closes.
func (s *Server) Client() *clientv3.Client {
	s.t.Helper()
	c, err := clientv3.New(clientv3.Config{
		Endpoints:   []string{s.Endpoint()},
		DialTimeout: 5 * time.Second,
		Logger:      zap.NewNop(),
		// gRPC's reconnection backoff grows to minutes by default; a test that
		// restarts the server wants the client back within a fraction of a second.
		DialOptions: []grpc.DialOption{grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: 20 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: 200 * time.Millisecond},
			MinConnectTimeout: time.Second,
		})},
	})
	if err != nil {
		s.t.Fatalf("etcd client: %v", err)
	}
	s.t.Cleanup(func() { c.Close() })
	return c
}
