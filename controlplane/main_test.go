package controlplane

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/regoresilience/rego/policy"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const (
	// defaultTestTimeout bounds waits for things that must happen.
	defaultTestTimeout = 10 * time.Second
	// defaultTestShortTimeout bounds waits for things that must not take long:
	// Current and Status return within it even while a load is stuck.
	defaultTestShortTimeout = time.Second
)

// Documents used across the tests: each sets a distinct max_attempts for
// "svc.Op" so the test can tell which one is in force.
const (
	docV2 = `{"policies": {"svc.*": {"retry": {"max_attempts": 2}}}}`
	docV4 = `{"policies": {"svc.*": {"retry": {"max_attempts": 4}}, "*": {"timeout": "2s"}}}`
	docV5 = `{"policies": {"svc.Op": {"retry": {"max_attempts": 5, "initial_backoff": "10ms"}}}}`
	// docInvalid is valid JSON but an invalid policy.
	docInvalid = `{"policies": {"svc.Op": {"retry": {"max_attempts": 0}}}}`
)

var svcOp = policy.ParseKey("svc.Op")

// attemptsOf returns svc.Op's max_attempts in s, or 0 when s has no policy for
// it (the fallback).
func attemptsOf(t *testing.T, s *Snapshot) int {
	t.Helper()
	if s == nil {
		t.Fatal("nil snapshot")
	}
	p, _, ok := s.Set.Resolve(svcOp)
	if !ok {
		return 0
	}
	return p.Retry.MaxAttempts
}

// inForce asserts the snapshot in force: which document (by svc.Op's
// max_attempts, 0 = none), its version and its source. It reads Current in
// another goroutine and fails if that takes longer than the short timeout.
func inForce(t *testing.T, p Provider, attempts int, version uint64, src Source) *Snapshot {
	t.Helper()
	s := currentWithin(t, p)
	if got := attemptsOf(t, s); got != attempts {
		t.Errorf("svc.Op max_attempts = %d, want %d", got, attempts)
	}
	if s.Version != version {
		t.Errorf("Version = %d, want %d", s.Version, version)
	}
	if s.Source != src {
		t.Errorf("Source = %q, want %q", s.Source, src)
	}
	if (s.Set == nil) != (src == SourceFallback) {
		t.Errorf("Set = %v with source %q", s.Set, src)
	}
	return s
}

// currentWithin calls Current in another goroutine and fails if it does not
// return within the short timeout: Current must never wait for a load.
func currentWithin(t *testing.T, p Provider) *Snapshot {
	t.Helper()
	ch := make(chan *Snapshot, 1)
	go func() { ch <- p.Current() }()
	select {
	case s := <-ch:
		if s == nil {
			t.Fatal("Current returned nil")
		}
		return s
	case <-time.After(defaultTestShortTimeout):
		t.Fatal("Current blocked")
		return nil
	}
}

// statusWithin is currentWithin for Status.
func statusWithin(t *testing.T, p Provider) Status {
	t.Helper()
	ch := make(chan Status, 1)
	go func() { ch <- p.Status() }()
	select {
	case s := <-ch:
		return s
	case <-time.After(defaultTestShortTimeout):
		t.Fatal("Status blocked")
		return Status{}
	}
}

// quietLogger discards everything; tests assert through Status instead.
func quietLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// reload calls Reload on p, which must be a Reloader.
func reload(t testing.TB, p Provider) error {
	t.Helper()
	r, ok := p.(Reloader)
	if !ok {
		t.Fatalf("%T is not a Reloader", p)
	}
	ctx, cancel := context.WithTimeout(context.Background(), defaultTestTimeout)
	defer cancel()
	return r.Reload(ctx)
}

// closeProvider closes p at the end of the test and checks Close is idempotent.
func closeProvider(t testing.TB, p Provider) {
	t.Cleanup(func() {
		if err := p.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		if err := p.Close(); err != nil {
			t.Errorf("second Close: %v", err)
		}
	})
}

// wantErrContains asserts err is non-nil, a *LoadError, and mentions each part.
func wantLoadError(t *testing.T, err error, parts ...string) *LoadError {
	t.Helper()
	if err == nil {
		t.Fatal("err = nil, want an error")
	}
	var le *LoadError
	if !errors.As(err, &le) {
		t.Fatalf("err = %T %v, want a *LoadError", err, err)
	}
	for _, part := range parts {
		if !strings.Contains(err.Error(), part) {
			t.Errorf("err = %q, want it to mention %q", err, part)
		}
	}
	return le
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// driver runs a provider's background loop one step at a time: step sends on
// the provider's trigger and waits until the load it started is over.
//
// The end-of-load hook reports every load of the loop, in order, including the
// remote provider's first fetch, which no trigger started: step counts loads
// (initial + one per step) and skips the reports of earlier ones.
type driver struct {
	trigger  chan time.Time
	cycled   chan error
	expected int // loads the loop will have finished after the current step
	consumed int // reports read from cycled
}

// newDriver: initial is the number of loads the loop does before waiting for
// its trigger (1 for the remote provider, 0 for the file provider).
func newDriver(initial int) *driver {
	// cycled is buffered so that the hook never blocks the loop.
	return &driver{trigger: make(chan time.Time), cycled: make(chan error, 64), expected: initial}
}

// opts returns the trigger and the end-of-load hook.
func (d *driver) opts() []Option {
	return []Option{WithTrigger(d.trigger), withAfterCycle(func(err error) {
		select {
		case d.cycled <- err:
		default:
			panic("driver: too many unread loads")
		}
	})}
}

// step runs one background load and returns its error.
func (d *driver) step() error {
	d.trigger <- time.Time{}
	d.expected++
	var err error
	for d.consumed < d.expected {
		err = <-d.cycled
		d.consumed++
	}
	return err
}

func tempPath(t *testing.T, name string) string {
	return filepath.Join(t.TempDir(), name)
}
