package controlplane_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"time"

	"github.com/regoresilience/rego/controlplane"
	"github.com/regoresilience/rego/policy"
)

func ExampleNewStatic() {
	p := controlplane.NewStatic(map[string]policy.Policy{
		"user-service.*": {Retry: policy.Retry{MaxAttempts: 4}},
		"*":              {Timeout: 2 * time.Second},
	})
	defer p.Close()

	s := p.Current()
	pol, pattern, _ := s.Set.Resolve(policy.ParseKey("user-service.GetUser"))
	fmt.Println(s.Source, s.Version, pattern, pol.Retry.MaxAttempts)

	bad := controlplane.NewStatic(map[string]policy.Policy{
		"user-service.GetUser": {Retry: policy.Retry{MaxAttempts: -1}},
	})
	fmt.Println(bad.Current().Source, bad.Current().Set == nil)
	fmt.Println(bad.Status().LastError)
	// Output:
	// static 1 user-service.* 4
	// fallback true
	// controlplane: static: policies["user-service.GetUser"].retry.max_attempts: must be >= 1
}

func ExampleNewFile() {
	dir, err := os.MkdirTemp("", "rego-example")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "policies.json")
	write := func(doc string) {
		if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
			panic(err)
		}
	}
	write(`{"policies": {"db.*": {"retry": {"max_attempts": 2}}}}`)

	p, err := controlplane.NewFile(path, controlplane.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		panic(err)
	}
	defer p.Close()
	attempts := func() int {
		pol, _, _ := p.Current().Set.Resolve(policy.ParseKey("db.Query"))
		return pol.Retry.MaxAttempts
	}
	fmt.Println(p.Current().Version, attempts())

	// A bad edit is rejected whole; the last good version stays in force.
	write(`{"policies": {"db.*": {"retry": {"max_attempts": 3, "multiplier": 0.5}}}}`)
	err = p.(controlplane.Reloader).Reload(context.Background())
	fmt.Println(errors.Is(err, policy.ErrInvalidPolicy), p.Current().Version, attempts())

	write(`{"policies": {"db.*": {"retry": {"max_attempts": 3}}}}`)
	err = p.(controlplane.Reloader).Reload(context.Background())
	fmt.Println(err, p.Current().Version, attempts())
	// Output:
	// 1 2
	// true 1 2
	// <nil> 2 3
}

func ExampleNewRemote() {
	doc := []byte(`{"policies": {"user-service.*": {"hedge": {"max_hedges": 1, "delay": "50ms"}}}}`)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("ETag", `"v1"`)
		if r.Header.Get("If-None-Match") == `"v1"` {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		w.Write(doc)
	}))
	defer srv.Close()

	p, err := controlplane.NewRemote(srv.URL,
		controlplane.WithRefreshInterval(30*time.Second),
		controlplane.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		panic(err)
	}
	defer p.Close()

	s := p.Current()
	pol, _, _ := s.Set.Resolve(policy.ParseKey("user-service.GetUser"))
	fmt.Println(s.Source, s.Version, pol.Hedge.MaxHedges, pol.Hedge.Delay)

	// An unchanged document (HTTP 304) is not a new version.
	_ = p.(controlplane.Reloader).Reload(context.Background())
	fmt.Println(p.Current().Version, p.Status().LastError)
	// Output:
	// remote 1 1 50ms
	// 1 <nil>
}

// A provider written outside this package hands each document it receives to
// a Publisher, which validates it and publishes it, or keeps the policies in
// force and records why.
func ExamplePublisher() {
	pub, err := controlplane.NewPublisher("bus:policies",
		controlplane.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		panic(err)
	}
	attempts := func() int {
		pol, _, _ := pub.Current().Set.Resolve(policy.ParseKey("db.Query"))
		return pol.Retry.MaxAttempts
	}

	// A document arrives at revision 41 of its source.
	snap, err := pub.Publish([]byte(`{"policies": {"db.*": {"retry": {"max_attempts": 3}}}}`), controlplane.SourceRemote, 41)
	fmt.Println(snap.Version, snap.Revision, attempts(), err)

	// A broken one is rejected whole: the last good policies stay in force.
	_, err = pub.Publish([]byte(`{"policies": {"db.*": {"retry": {"max_attempts": 0}}}}`), controlplane.SourceRemote, 42)
	fmt.Println(pub.Current().Version, attempts())
	fmt.Println(err)

	// The transport failing is recorded the same way.
	pub.RecordFailure(errors.New("connection lost"))
	st := pub.Status()
	fmt.Println(st.ConsecutiveFailures, st.LastError)
	// Output:
	// 41 41 3 <nil>
	// 41 3
	// controlplane: bus:policies: policies["db.*"].retry.max_attempts: must be >= 1
	// 2 controlplane: bus:policies: connection lost
}
