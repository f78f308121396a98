package engine

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/regoresilience/rego/classify"
	"github.com/regoresilience/rego/observe"
	"github.com/regoresilience/rego/policy"
)

// TestClassifierPanicFinalizes verifies a classifier that panics in the
// caller's goroutine is handled like a panicking op: the attempt is recorded,
// the call's timeline finished and the observers told (OnFailure, with a
// *PanicError), and the panic still reaches the caller, with and without
// hedging.
func TestClassifierPanicFinalizes(t *testing.T) {
	for _, hedged := range []bool{false, true} {
		t.Run(map[bool]string{false: "plain", true: "hedged"}[hedged], func(t *testing.T) {
			p := fixed(3, time.Millisecond)
			p.Classifier = "bad"
			if hedged {
				p.Hedge.MaxHedges, p.Hedge.Delay = 1, time.Hour
			}
			bad := classify.Func(func(context.Context, error) classify.Verdict { panic("classifier bug") })
			o := &recObserver{t: t}
			e := newEngine(t, withPolicy(p), WithClassifier("bad", bad), WithObserver(o))
			func() {
				defer func() {
					if r := recover(); r != "classifier bug" {
						t.Errorf("recovered %v, want the classifier's panic", r)
					}
				}()
				e.Do(context.Background(), key, func(context.Context) error { return nil })
				t.Error("Do returned instead of panicking")
			}()
			if got, want := strings.Join(o.log(), " "), "start attempt:abort failure"; got != want {
				t.Errorf("observer saw %q, want %q", got, want)
			}
			var pe *PanicError
			if len(o.tls) != 1 || !errors.As(o.tls[0].FinalErr, &pe) || pe.Value != "classifier bug" ||
				!hasEvent(o.tls[0], observe.EventPanic) || o.tls[0].End.IsZero() {
				t.Fatalf("timeline not finished with the panic: %+v", o.tls)
			}
		})
	}
}

// TestGoexitInCallerFinalizes verifies an op that calls runtime.Goexit in the
// caller's goroutine (t.FailNow does) still gets its call's observers told:
// OnFailure, with a *PanicError whose value is ErrGoexit.
func TestGoexitInCallerFinalizes(t *testing.T) {
	o := &recObserver{t: t}
	e := newEngine(t, withPolicy(fixed(3, time.Millisecond)), WithObserver(o))
	done := make(chan bool)
	go func() {
		returned := false
		defer func() { done <- returned }()
		e.Do(context.Background(), key, func(context.Context) error { runtime.Goexit(); return nil })
		returned = true
	}()
	if <-done {
		t.Fatal("Do returned; want the goroutine to exit")
	}
	if got := strings.Join(o.log(), " "); got != "start failure" {
		t.Errorf("observer saw %q, want %q", got, "start failure")
	}
	var pe *PanicError
	if len(o.tls) != 1 || !errors.As(o.tls[0].FinalErr, &pe) || pe.Value != ErrGoexit {
		t.Fatalf("timeline not finished with ErrGoexit: %+v", o.tls)
	}
}

// panicObserver panics in OnAttempt.
type panicObserver struct {
	observe.Base
	failures int
}

func (o *panicObserver) OnAttempt(context.Context, policy.Key, observe.AttemptRecord) {
	panic("observer bug")
}
func (o *panicObserver) OnFailure(context.Context, *observe.Timeline) { o.failures++ }

// TestObserverPanicPropagates verifies an observer's own panic reaches the
// caller unchanged and the observers are not called again on its way out.
func TestObserverPanicPropagates(t *testing.T) {
	o := &panicObserver{}
	e := newEngine(t, withPolicy(fixed(3, time.Millisecond)), WithObserver(o))
	func() {
		defer func() {
			if r := recover(); r != "observer bug" {
				t.Errorf("recovered %v, want the observer's panic", r)
			}
		}()
		e.Do(context.Background(), key, func(context.Context) error { return nil })
		t.Error("Do returned instead of panicking")
	}()
	if o.failures != 0 {
		t.Errorf("OnFailure called %d times after the observer panicked", o.failures)
	}
}

// TestHedgedClassifierPanicStopsTimer verifies a classifier panic on a hedged
// primary (no observer: the fast path) stops the round's hedge timer, so no
// hedge runs for a call that is over.
func TestHedgedClassifierPanicStopsTimer(t *testing.T) {
	p := fixed(3, time.Millisecond)
	p.Classifier = "bad"
	p.Hedge.MaxHedges, p.Hedge.Delay = 1, 5*time.Millisecond
	bad := classify.Func(func(context.Context, error) classify.Verdict { panic("classifier bug") })
	e := newEngine(t, withPolicy(p), WithClassifier("bad", bad))
	calls := 0
	func() {
		defer func() {
			if r := recover(); r != "classifier bug" {
				t.Errorf("recovered %v, want the classifier's panic", r)
			}
		}()
		e.Do(context.Background(), key, func(context.Context) error { calls++; return nil })
	}()
	e.Close() // Shutdown runs a pending hedge timer at once: a live one would launch
	if calls != 1 {
		t.Fatalf("op ran %d times, want 1 (a hedge ran after the call ended)", calls)
	}
}
