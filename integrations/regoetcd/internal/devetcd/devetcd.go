// Package devetcd starts a single-node etcd server in the process, for
// `regoetcd dev` and for the tests. It is internal: a real deployment runs
// etcd as its own service.
package devetcd

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
)

// Config says where the server keeps its data and listens.
type Config struct {
	// Dir is the data directory. A server restarted on the same Dir (and the
	// same ports) keeps its data and revisions.
	Dir string
	// ClientAddr and PeerAddr are host:port pairs on loopback; port 0 picks a
	// free port.
	ClientAddr, PeerAddr string
	// Logger receives the server's logs; nil discards them.
	Logger *zap.Logger
	// StartTimeout bounds the wait for the server to be ready (default 30s).
	StartTimeout time.Duration
	// AutoTLS serves clients over TLS with a self-signed certificate, written
	// to Dir/fixtures/client/cert.pem (it is its own CA).
	AutoTLS bool
}

// Server is a running embedded etcd.
type Server struct {
	e *embed.Etcd
	// ClientAddr and PeerAddr are the addresses actually listened on.
	ClientAddr, PeerAddr string
	scheme               string // of the client URL: http, or https with AutoTLS
}

// ErrNotReady is returned by Start when the server does not become ready in
// time.
var ErrNotReady = errors.New("devetcd: server not ready in time")

// Start starts the server and waits until it serves clients.
func Start(cfg Config) (*Server, error) {
	var err error
	if cfg.ClientAddr, err = resolvePort(cfg.ClientAddr); err != nil {
		return nil, err
	}
	if cfg.PeerAddr, err = resolvePort(cfg.PeerAddr); err != nil {
		return nil, err
	}
	if cfg.StartTimeout <= 0 {
		cfg.StartTimeout = 30 * time.Second
	}
	lg := cfg.Logger
	if lg == nil {
		lg = zap.NewNop()
	}
	ec := embed.NewConfig()
	ec.Name = "regoetcd-dev"
	ec.Dir = cfg.Dir
	cu := url.URL{Scheme: "http", Host: cfg.ClientAddr}
	if cfg.AutoTLS {
		cu.Scheme = "https"
		ec.ClientAutoTLS = true
	}
	pu := url.URL{Scheme: "http", Host: cfg.PeerAddr}
	ec.ListenClientUrls, ec.AdvertiseClientUrls = []url.URL{cu}, []url.URL{cu}
	ec.ListenPeerUrls, ec.AdvertisePeerUrls = []url.URL{pu}, []url.URL{pu}
	ec.InitialCluster = ec.InitialClusterFromName(ec.Name)
	ec.ZapLoggerBuilder = embed.NewZapLoggerBuilder(lg)
	e, err := embed.StartEtcd(ec)
	if err != nil {
		return nil, fmt.Errorf("devetcd: %w", err)
	}
	t := time.NewTimer(cfg.StartTimeout)
	defer t.Stop()
	select {
	case <-e.Server.ReadyNotify():
	case err := <-e.Err():
		e.Close()
		return nil, fmt.Errorf("devetcd: %w", err)
	case <-t.C:
		e.Close()
		return nil, ErrNotReady
	}
	return &Server{e: e, ClientAddr: cfg.ClientAddr, PeerAddr: cfg.PeerAddr, scheme: cu.Scheme}, nil
}

// Endpoint returns the client URL, for clientv3.Config.Endpoints.
func (s *Server) Endpoint() string { return s.scheme + "://" + s.ClientAddr }

// Err reports a fatal server error.
func (s *Server) Err() <-chan error { return s.e.Err() }

// Close stops the server and waits for it to release its ports and data dir.
func (s *Server) Close() { s.e.Close() }

// resolvePort replaces port 0 with a free port. embed must know its peer URL
// before listening (it is part of the cluster's identity), so the port is
// picked by listening once and closing; a restart reuses the returned address.
func resolvePort(addr string) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("devetcd: address %q: %w", addr, err)
	}
	if port != "0" {
		return addr, nil
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return "", fmt.Errorf("devetcd: %w", err)
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}
