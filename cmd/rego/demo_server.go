package main

// The demo's flaky backend: a real HTTP server on loopback whose faults are
// a pure function of (seed, call, attempt).

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// flakyServer is the demo's backend: a real HTTP server on 127.0.0.1.
type flakyServer struct {
	cfg    demoConfig
	url    string
	srv    *http.Server
	served chan struct{} // closed when Serve has returned
	anon   atomic.Uint64 // ids for requests that carry no demo request id
}

func startFlakyServer(cfg demoConfig) (*flakyServer, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("starting the flaky server: %w", err)
	}
	s := &flakyServer{cfg: cfg, url: "http://" + ln.Addr().String() + "/", served: make(chan struct{})}
	s.srv = &http.Server{Handler: s, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		defer close(s.served)
		_ = s.srv.Serve(ln) // returns http.ErrServerClosed after close
	}()
	return s, nil
}

// close stops the server and waits for its handlers and connections. A
// connection still busy after a second (one dialed but never used, which
// Shutdown leaves alone for 5s) is closed outright.
func (s *flakyServer) close() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := s.srv.Shutdown(ctx); err != nil {
		s.srv.Close()
	}
	<-s.served
}

func (s *flakyServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	call, attempt, ok := parseRequestID(r.Header.Get(demoRequestHeader))
	if !ok {
		// Not a demo client (curl, a browser): a fault of its own, never repeated.
		call, attempt = 1<<40+s.anon.Add(1), 0
	}
	f := s.cfg.fault(call, attempt)
	t := time.NewTimer(f.delay)
	select {
	case <-t.C:
	case <-r.Context().Done(): // the client gave up (a lost hedge, a timeout)
		t.Stop()
		return
	}
	if f.fail {
		http.Error(w, "flaky: try again", http.StatusServiceUnavailable)
		return
	}
	io.WriteString(w, "ok\n")
}

// parseRequestID parses "call/attempt".
func parseRequestID(s string) (call, attempt uint64, ok bool) {
	a, b, found := strings.Cut(s, "/")
	if !found {
		return 0, 0, false
	}
	call, err1 := strconv.ParseUint(a, 10, 40)
	attempt, err2 := strconv.ParseUint(b, 10, 16)
	return call, attempt, err1 == nil && err2 == nil
}

// fault is what the server does to one request.
type fault struct {
	delay time.Duration // before answering
	fail  bool          // answer 503
	slow  bool          // delay is in the slow tail
}

// fault returns the fault of one attempt of one call: a pure function of the
// seed, the call and the attempt. A typical request takes 0.5-1.5x latency, a
// slow one 10-20x; failing and being slow are independent.
func (c demoConfig) fault(call, attempt uint64) fault {
	r := rand.New(rand.NewPCG(splitmix(c.seed), splitmix(call<<16|attempt)))
	var f fault
	f.fail = r.Float64() < c.failRate
	f.slow = r.Float64() < c.slowRate
	scale := 0.5 + r.Float64() // typical: 0.5x..1.5x
	if f.slow {
		scale = 10 + 10*r.Float64()
	}
	f.delay = time.Duration(scale * float64(c.latency))
	return f
}

// splitmix is SplitMix64's finalizer: nearby inputs give unrelated seeds.
func splitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}
