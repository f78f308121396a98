package engine

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/regoresilience/rego/controlplane"
	"github.com/regoresilience/rego/observe"
	"github.com/regoresilience/rego/policy"
)

var errFlaky = errors.New("flaky")

// newEngine returns an engine closed at the end of the test.
func newEngine(t testing.TB, opts ...Option) *Engine {
	t.Helper()
	e, err := New(opts...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

// withPolicy gives every key p.
func withPolicy(p policy.Policy) Option {
	return WithProvider(controlplane.NewStatic(map[string]policy.Policy{"*": p}))
}

// failN returns an op that fails n times with err, then succeeds, and counts calls.
func failN(n int, err error) (func(context.Context) error, *int) {
	calls := 0
	return func(context.Context) error {
		calls++
		if calls <= n {
			return err
		}
		return nil
	}, &calls
}

// recObserver records every callback in order and checks they never overlap.
type recObserver struct {
	mu     sync.Mutex
	busy   bool
	events []string
	tls    []*observe.Timeline
	t      testing.TB
}

func (o *recObserver) enter(name string) {
	o.mu.Lock()
	if o.busy {
		o.t.Errorf("observer called concurrently (%s)", name)
	}
	o.busy = true
	o.events = append(o.events, name)
	o.mu.Unlock()
}

func (o *recObserver) leave() { o.mu.Lock(); o.busy = false; o.mu.Unlock() }

func (o *recObserver) OnStart(ctx context.Context, key policy.Key) { o.enter("start"); o.leave() }
func (o *recObserver) OnAttempt(ctx context.Context, key policy.Key, rec observe.AttemptRecord) {
	o.enter("attempt:" + rec.Outcome.String())
	o.leave()
}
func (o *recObserver) OnSuccess(ctx context.Context, tl *observe.Timeline) {
	o.enter("success")
	o.tls = append(o.tls, tl)
	o.leave()
}
func (o *recObserver) OnFailure(ctx context.Context, tl *observe.Timeline) {
	o.enter("failure")
	o.tls = append(o.tls, tl)
	o.leave()
}

func (o *recObserver) log() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]string(nil), o.events...)
}

func hasEvent(tl *observe.Timeline, k observe.EventKind) bool {
	for _, ev := range tl.Events {
		if ev.Kind == k {
			return true
		}
	}
	return false
}

func asError(err error, target **Error) bool { return errors.As(err, target) }
