package engine

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/regoresilience/rego/budget"
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
	if got, want := strings.Join(o.log(), " "), "start attempt:abort failure"; got != want {
		t.Errorf("observer saw %q, want %q", got, want)
	}
	var pe *PanicError
	if len(o.tls) != 1 || !errors.As(o.tls[0].FinalErr, &pe) || pe.Value != ErrGoexit {
		t.Fatalf("timeline not finished with ErrGoexit: %+v", o.tls)
	}
	if a := o.tls[0].Attempts; len(a) != 1 || a[0].Index != 0 || a[0].Reason != "goexit" {
		t.Fatalf("the attempt that exited is not recorded as such: %+v", a)
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
// hedge runs for a call that is over: with the engine still open, the hedge
// delay passes and the op is not called again.
func TestHedgedClassifierPanicStopsTimer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := fixed(3, time.Millisecond)
		p.Classifier = "bad"
		p.Hedge.MaxHedges, p.Hedge.Delay = 1, 5*time.Millisecond
		bad := classify.Func(func(context.Context, error) classify.Verdict { panic("classifier bug") })
		e := newEngine(t, withPolicy(p), WithClassifier("bad", bad))
		var calls atomic.Int32
		func() {
			defer func() {
				if r := recover(); r != "classifier bug" {
					t.Errorf("recovered %v, want the classifier's panic", r)
				}
			}()
			e.Do(context.Background(), key, func(context.Context) error { calls.Add(1); return nil })
		}()
		time.Sleep(20 * time.Millisecond) // four hedge delays, on the bubble's clock
		synctest.Wait()
		if n := calls.Load(); n != 1 {
			t.Fatalf("op ran %d times, want 1 (a hedge ran after the call ended)", n)
		}
	})
}

// TestGoexitInLaterRoundRecordsIt verifies a Goexit in a retry is recorded
// against that attempt (index 1), not the previous one.
func TestGoexitInLaterRoundRecordsIt(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		o := &recObserver{t: t}
		e := newEngine(t, withPolicy(fixed(3, time.Millisecond)), WithObserver(o), WithKeyBudgets(nil, nil))
		done := make(chan struct{})
		go func() {
			defer close(done)
			calls := 0
			e.Do(context.Background(), key, func(context.Context) error {
				if calls++; calls == 2 {
					runtime.Goexit()
				}
				return errFlaky
			})
		}()
		<-done
		if len(o.tls) != 1 {
			t.Fatalf("%d timelines", len(o.tls))
		}
		a := o.tls[0].Attempts
		if len(a) != 2 || a[1].Index != 1 || a[1].Reason != "goexit" {
			t.Fatalf("attempts %+v; want #1 recorded as goexit", a)
		}
	})
}

// panicBudget panics in the methods named.
type panicBudget struct {
	acquire, record bool
}

func (b *panicBudget) TryAcquire() bool {
	if b.acquire {
		panic("budget bug")
	}
	return true
}
func (b *panicBudget) Release() {}
func (b *panicBudget) Record(first, ok bool) {
	if b.record {
		panic("budget bug")
	}
}

// TestHedgeBudgetPanicDoesNotHang verifies a hedge budget that panics in
// TryAcquire, whether asked on the wheel (a hedge timer fires while the
// primary runs) or in the caller's goroutine (the primary fails first and
// fires the next hedge), neither hangs the round nor the engine's wheel: the
// hedge is not launched, the panic is logged, the call ends, and Close
// returns.
func TestHedgeBudgetPanicDoesNotHang(t *testing.T) {
	for _, tc := range []struct {
		name string
		fail time.Duration // when the primary fails
	}{{"wheel", 7 * time.Millisecond}, {"caller", 2 * time.Millisecond}} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				p := fixed(1, time.Millisecond)
				p.Hedge = policy.Hedge{MaxHedges: 2, Delay: 5 * time.Millisecond}
				p.HedgeBudget = "bad"
				var logged bytes.Buffer
				e, err := New(withPolicy(p), WithBudget("bad", &panicBudget{acquire: true}),
					WithLogger(slog.New(slog.NewTextHandler(&logged, nil))))
				if err != nil {
					t.Fatal(err)
				}
				err = e.Do(context.Background(), key, func(ctx context.Context) error {
					if info, _ := observe.AttemptFromContext(ctx); info.Hedge {
						t.Error("a hedge ran although its budget panicked")
					}
					select {
					case <-time.After(tc.fail):
						return errFlaky
					case <-ctx.Done():
						return ctx.Err()
					}
				})
				if !errors.Is(err, errFlaky) {
					t.Fatalf("err = %v, want the primary's error", err)
				}
				if !strings.Contains(logged.String(), "the hedge budget panicked") {
					t.Errorf("the budget's panic was not logged; log:\n%s", logged.String())
				}
				// The wheel is not stuck: a backoff on it still ends, and Close returns.
				if err := e.sleep(context.Background(), 50*time.Millisecond); err != nil {
					t.Fatalf("sleep on the wheel: %v", err)
				}
				e.Close()
			})
		})
	}
}

// TestAbandonedHedgedRoundLeavesNothing verifies that when the caller's
// goroutine leaves a hedged round abnormally — the primary calls
// runtime.Goexit, or a budget panics while the round is being recorded — the
// round's hedge timer is stopped and its running hedges are cancelled: no op
// runs or keeps running for a call that is over.
func TestAbandonedHedgedRoundLeavesNothing(t *testing.T) {
	for _, tc := range []string{"goexit-primary", "record-panics"} {
		t.Run(tc, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				p := fixed(1, time.Millisecond)
				p.Hedge = policy.Hedge{MaxHedges: 2, Delay: 5 * time.Millisecond}
				opts := []Option{withPolicy(p), WithObserver(&recObserver{t: t})}
				if tc == "record-panics" {
					p.RetryBudget = "bad"
					opts = []Option{withPolicy(p), WithObserver(&recObserver{t: t}),
						WithBudget("bad", &panicBudget{record: true})}
				}
				e := newEngine(t, opts...)
				var started, running atomic.Int32
				done := make(chan struct{})
				go func() {
					defer close(done)
					defer func() { recover() }() // the budget's panic, re-raised
					e.Do(context.Background(), key, func(ctx context.Context) error {
						started.Add(1)
						info, _ := observe.AttemptFromContext(ctx)
						if !info.Hedge {
							<-time.After(7 * time.Millisecond) // hedge 1 fires at 5ms
							if tc == "goexit-primary" {
								runtime.Goexit()
							}
							return nil // settles; recording it panics
						}
						running.Add(1)
						defer running.Add(-1)
						<-ctx.Done()
						return ctx.Err()
					})
				}()
				<-done
				synctest.Wait()
				at := started.Load()
				<-time.After(time.Second) // hedge 2's timer would fire at 10ms
				synctest.Wait()
				if n := started.Load(); n != at || n != 2 {
					t.Errorf("%d ops started by the end of the call, %d a second later; want 2 and 2", at, n)
				}
				if n := running.Load(); n != 0 {
					t.Errorf("%d hedges still running a second after the call ended", n)
				}
			})
		})
	}
}

// slowFirstBudget wraps a budget; its first TryAcquire waits (up to wait)
// for a second caller, as a preempted launcher would.
type slowFirstBudget struct {
	inner          budget.Budget
	wait           time.Duration
	asks, releases atomic.Int32
	second         chan struct{}
	releasePanics  bool
}

func (b *slowFirstBudget) TryAcquire() bool {
	switch b.asks.Add(1) {
	case 1:
		select {
		case <-b.second:
		case <-time.After(b.wait):
		}
	case 2:
		close(b.second)
	}
	return b.inner.TryAcquire()
}

func (b *slowFirstBudget) Release() {
	b.releases.Add(1)
	b.inner.Release()
	if b.releasePanics {
		panic("release bug")
	}
}

func (b *slowFirstBudget) Record(first, ok bool) { b.inner.Record(first, ok) }

// TestOneLaunchAsksTheBudget verifies that when a hedge's timer and a
// retryable failure both ask for the same hedge at once, the budget is asked
// once: the hedge runs, no permit is wasted, and no refusal is recorded.
func TestOneLaunchAsksTheBudget(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		conc, err := budget.NewConcurrency(budget.ConcurrencyConfig{Max: 1})
		if err != nil {
			t.Fatal(err)
		}
		b := &slowFirstBudget{inner: conc, wait: 5 * time.Millisecond, second: make(chan struct{})}
		p := fixed(1, time.Millisecond)
		p.Hedge = policy.Hedge{MaxHedges: 1, Delay: 5 * time.Millisecond}
		p.HedgeBudget = "slow"
		e := newEngine(t, withPolicy(p), WithBudget("slow", b))
		tl, err := e.DoWithTimeline(context.Background(), key, func(ctx context.Context) error {
			if info, _ := observe.AttemptFromContext(ctx); info.Hedge {
				return nil
			}
			<-time.After(7 * time.Millisecond) // fails while the timer's launch is asking
			return errFlaky
		})
		if err != nil || !tl.Hedged() || hasEvent(tl, observe.EventBudgetDenied) {
			t.Fatalf("err %v, hedged %v, denied %v; want the hedge to run and win:\n%v", err, tl.Hedged(), hasEvent(tl, observe.EventBudgetDenied), tl)
		}
		if n := b.asks.Load(); n != 1 {
			t.Fatalf("the budget was asked %d times for one hedge", n)
		}
	})
}

// TestHedgeReleasePanicReleasesOnce verifies a hedge budget whose Release
// panics is released once per permit and does not crash the process.
func TestHedgeReleasePanicReleasesOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := &slowFirstBudget{inner: unlimited{}, second: make(chan struct{}), releasePanics: true}
		close(b.second) // no waiting
		b.asks.Store(2)
		p := fixed(1, time.Millisecond)
		p.Hedge = policy.Hedge{MaxHedges: 1, Delay: 5 * time.Millisecond}
		p.HedgeBudget = "bad"
		var logged bytes.Buffer
		e := newEngine(t, withPolicy(p), WithBudget("bad", b), WithLogger(slog.New(slog.NewTextHandler(&logged, nil))))
		err := e.Do(context.Background(), key, func(ctx context.Context) error {
			if info, _ := observe.AttemptFromContext(ctx); info.Hedge {
				return nil
			}
			<-ctx.Done() // the hedge wins and cancels the primary
			return ctx.Err()
		})
		if err != nil {
			t.Fatalf("err = %v", err)
		}
		synctest.Wait()
		if n := b.releases.Load(); n != 1 {
			t.Fatalf("Release called %d times for one permit", n)
		}
		if !strings.Contains(logged.String(), "the hedge budget panicked") {
			t.Errorf("the Release panic was not logged; log:\n%s", logged.String())
		}
	})
}
