package regoetcd

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/goleak"

	"github.com/regoresilience/rego/controlplane"
	"github.com/regoresilience/rego/policy"
)

// TestMain checks for leaked goroutines with no exceptions: embed.Etcd.Close
// and clientv3.Client.Close end every goroutine etcd starts.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const (
	// defaultTestTimeout bounds waits for things that must happen.
	defaultTestTimeout = 20 * time.Second
	testKey            = "/rego/policies"
)

// Documents: each sets a distinct max_attempts for svc.Op.
const (
	docV2      = `{"policies": {"svc.*": {"retry": {"max_attempts": 2}}}}`
	docV4      = `{"policies": {"svc.*": {"retry": {"max_attempts": 4}}, "*": {"timeout": "2s"}}}`
	docV5      = `{"policies": {"svc.Op": {"retry": {"max_attempts": 5, "initial_backoff": "10ms"}}}}`
	docInvalid = `{"policies": {"svc.Op": {"retry": {"max_attempts": 0}}}}`
)

var svcOp = policy.ParseKey("svc.Op")

// attemptsOf returns svc.Op's max_attempts in s, 0 when it has no policy.
func attemptsOf(s *controlplane.Snapshot) int {
	p, _, ok := s.Set.Resolve(svcOp)
	if !ok {
		return 0
	}
	return p.Retry.MaxAttempts
}

// watched is a provider whose goroutine signals changed after every event.
type watched struct {
	controlplane.Provider
	changed chan struct{}
}

// fastOpts are the timings the tests use: short waits and retries.
func fastOpts() []Option {
	return []Option{
		WithLogger(slog.New(slog.DiscardHandler)),
		WithGetTimeout(500 * time.Millisecond),
		WithBackoff(10*time.Millisecond, 100*time.Millisecond),
	}
}

// newProvider starts a provider on key with the fast timings (and opts), and
// closes it at the end of the test.
func newProvider(t testing.TB, cli *clientv3.Client, opts ...Option) *watched {
	t.Helper()
	w := &watched{changed: make(chan struct{}, 1)}
	all := append(fastOpts(), withAfterEvent(func() {
		select {
		case w.changed <- struct{}{}:
		default:
		}
	}))
	p, err := NewProvider(cli, testKey, append(all, opts...)...)
	if err != nil {
		t.Fatalf("NewProvider: %v", err)
	}
	w.Provider = p
	t.Cleanup(func() { p.Close() })
	return w
}

// waitFor waits, without sleeping, until cond holds for the provider's
// snapshot and status, re-checking after each event of its goroutine.
func (w *watched) waitFor(t testing.TB, what string, cond func(*controlplane.Snapshot, controlplane.Status) bool) {
	t.Helper()
	deadline := time.NewTimer(defaultTestTimeout)
	defer deadline.Stop()
	for {
		if cond(w.Current(), w.Status()) {
			return
		}
		select {
		case <-w.changed:
		case <-deadline.C:
			t.Fatalf("timed out waiting for %s; snapshot %+v, status %+v", what, w.Current(), w.Status())
		}
	}
}

// put writes doc at testKey and returns the mod revision.
func put(t testing.TB, cli *clientv3.Client, doc string) int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), defaultTestTimeout)
	defer cancel()
	resp, err := cli.Put(ctx, testKey, doc)
	if err != nil {
		t.Fatalf("put: %v", err)
	}
	return resp.Header.Revision
}

// wantInForce asserts the snapshot in force: svc.Op's max_attempts, the mod
// revision it came from and its source.
func wantInForce(t testing.TB, p controlplane.Provider, attempts int, rev int64, src controlplane.Source) {
	t.Helper()
	s := p.Current()
	if got := attemptsOf(s); got != attempts || s.Revision != rev || s.Source != src {
		t.Errorf("in force: attempts %d, revision %d, source %q; want %d, %d, %q", got, s.Revision, s.Source, attempts, rev, src)
	}
	if rev > 0 && s.Version != uint64(rev) {
		t.Errorf("Version = %d, want the mod revision %d", s.Version, rev)
	}
}

func failingWith(target error) func(*controlplane.Snapshot, controlplane.Status) bool {
	return func(_ *controlplane.Snapshot, st controlplane.Status) bool {
		return st.ConsecutiveFailures > 0 && errors.Is(st.LastError, target)
	}
}
