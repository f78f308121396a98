package engine

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"testing/synctest"
	"time"

	"github.com/regoresilience/rego/budget"
	"github.com/regoresilience/rego/controlplane"
	"github.com/regoresilience/rego/observe"
)

// TestFileProviderSwap verifies a policy file change reaches the next call
// without a lock on the call path, a call in flight finishes under the policy
// it started with, and timelines name the source and version that decided them.
func TestFileProviderSwap(t *testing.T) {
	path := filepath.Join(t.TempDir(), "policies.json")
	write := func(attempts int) {
		doc := fmt.Sprintf(`{"policies": {"svc.*": {"retry": {"max_attempts": %d, "initial_backoff": "1ms", "jitter": "none"}}}}`, attempts)
		if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(1)
	trigger := make(chan time.Time)
	p, err := controlplane.NewFile(path, controlplane.WithTrigger(trigger))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	e := newEngine(t, WithProvider(p))

	op, calls := failN(100, errFlaky)
	tl, _ := e.DoWithTimeline(context.Background(), key, op)
	if *calls != 1 || tl.PolicySource != "file" || tl.PolicyVersion != 1 || tl.Pattern != "svc.*" {
		t.Fatalf("calls=%d\n%v", *calls, tl)
	}

	// A call in flight keeps its policy while the file changes under it.
	inFlight := make(chan struct{})
	release := make(chan struct{})
	done := make(chan *observe.Timeline)
	go func() {
		tl, _ := e.DoWithTimeline(context.Background(), key, func(context.Context) error {
			select {
			case inFlight <- struct{}{}:
				<-release
			default:
			}
			return errFlaky
		})
		done <- tl
	}()
	<-inFlight
	write(3)
	if err := p.(controlplane.Reloader).Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	close(release)
	if tl := <-done; len(tl.Attempts) != 1 || tl.PolicyVersion != 1 {
		t.Errorf("in-flight call: %d attempts under version %d, want 1 under version 1", len(tl.Attempts), tl.PolicyVersion)
	}

	*calls = 0
	tl, _ = e.DoWithTimeline(context.Background(), key, op)
	if *calls != 3 || tl.PolicyVersion != 2 {
		t.Fatalf("after the change: calls=%d\n%v", *calls, tl)
	}
}

// TestAdaptiveThrottleGatesFirstAttempts verifies that naming an adaptive
// throttle as a policy's retry budget lets it refuse first attempts while the
// backend rejects most requests, without calling the backend.
func TestAdaptiveThrottleGatesFirstAttempts(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		throttle, err := budget.NewAdaptive(budget.AdaptiveConfig{Rand: func() float64 { return 0 }})
		if err != nil {
			t.Fatal(err)
		}
		p := fixed(1, time.Millisecond)
		p.RetryBudget = "adaptive"
		e := newEngine(t, withPolicy(p), WithBudget("adaptive", throttle))
		op, calls := failN(1000, errFlaky)
		var throttled int
		for range 100 {
			tl, err := e.DoWithTimeline(context.Background(), key, op)
			var re *Error
			if asError(err, &re) && re.Reason == StopThrottled {
				throttled++
				if len(tl.Attempts) != 0 || !hasEvent(tl, observe.EventBudgetDenied) {
					t.Fatalf("throttled call ran attempts:\n%v", tl)
				}
			}
		}
		if throttled == 0 || *calls+throttled != 100 {
			t.Fatalf("throttled %d, backend saw %d", throttled, *calls)
		}
		t.Logf("backend saw %d of 100 calls; %d refused locally", *calls, throttled)
	})
}
