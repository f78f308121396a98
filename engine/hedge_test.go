package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/regoresilience/rego/budget"
	"github.com/regoresilience/rego/classify"
	"github.com/regoresilience/rego/observe"
	"github.com/regoresilience/rego/policy"
)

// wait simulates work that takes d and honours ctx, as a well-behaved op does.
func wait(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func hedged(hedges int, delay time.Duration) policy.Policy {
	p := fixed(1, time.Millisecond)
	p.Hedge = policy.Hedge{MaxHedges: hedges, Delay: delay}
	return p
}

// byAttempt returns an op whose attempt i takes lat[i] and returns errs[i].
func byAttempt(lat []time.Duration, errs []error) func(context.Context) error {
	return func(ctx context.Context) error {
		info, _ := observe.AttemptFromContext(ctx)
		if err := wait(ctx, lat[info.Index]); err != nil {
			return err
		}
		return errs[info.Index]
	}
}

// TestHedgeWinsWhenPrimaryStalls verifies a fixed-delay hedge wins over a stalled
// primary, which is cancelled and recorded as lost.
func TestHedgeWinsWhenPrimaryStalls(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEngine(t, withPolicy(hedged(1, 50*time.Millisecond)))
		op := byAttempt([]time.Duration{time.Hour, 10 * time.Millisecond}, []error{nil, nil})
		start := time.Now()
		tl, err := e.DoWithTimeline(context.Background(), key, op)
		if err != nil || time.Since(start) > 62*time.Millisecond {
			t.Fatalf("err=%v after %v\n%v", err, time.Since(start), tl)
		}
		if len(tl.Attempts) != 2 || !tl.Attempts[0].Canceled || tl.Attempts[0].Reason != ReasonHedgeLost ||
			!tl.Attempts[1].Hedge || tl.Attempts[1].Outcome != classify.Success || !hasEvent(tl, observe.EventHedgeFired) {
			t.Errorf("timeline:\n%v", tl)
		}
	})
}

// TestPrimaryWinsHedgeCancelled verifies the primary can still win; the hedge is
// cancelled, recorded as lost, and its goroutine ends.
func TestPrimaryWinsHedgeCancelled(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEngine(t, withPolicy(hedged(1, 50*time.Millisecond)))
		var hedgeErr atomic.Value
		op := func(ctx context.Context) error {
			info, _ := observe.AttemptFromContext(ctx)
			if info.Hedge {
				err := wait(ctx, time.Hour)
				hedgeErr.Store(err)
				return err
			}
			return wait(ctx, 80*time.Millisecond)
		}
		start := time.Now()
		tl, err := e.DoWithTimeline(context.Background(), key, op)
		if err != nil || time.Since(start) != 80*time.Millisecond {
			t.Fatalf("err=%v after %v", err, time.Since(start))
		}
		synctest.Wait() // the loser's goroutine has ended
		if got, _ := hedgeErr.Load().(error); !errors.Is(got, context.Canceled) {
			t.Errorf("hedge saw %v, want context.Canceled", got)
		}
		if len(tl.Attempts) != 2 || !tl.Attempts[1].Canceled || tl.Attempts[0].Outcome != classify.Success {
			t.Errorf("timeline:\n%v", tl)
		}
	})
}

// TestRetryableFailureFiresNextHedgeAtOnce verifies gRPC A6 semantics: a failed
// attempt does not wait for the hedge delay.
func TestRetryableFailureFiresNextHedgeAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEngine(t, withPolicy(hedged(2, time.Second)))
		op := byAttempt([]time.Duration{0, 0, 0}, []error{errFlaky, errFlaky, nil})
		start := time.Now()
		tl, err := e.DoWithTimeline(context.Background(), key, op)
		if err != nil || time.Since(start) != 0 || len(tl.Attempts) != 3 {
			t.Fatalf("err=%v after %v\n%v", err, time.Since(start), tl)
		}
	})
}

// TestHedgedRoundFailsThenRetries verifies that when every attempt of a round
// fails, the retry policy runs the next round.
func TestHedgedRoundFailsThenRetries(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := hedged(1, 10*time.Millisecond)
		p.Retry = fixed(2, 100*time.Millisecond).Retry
		e := newEngine(t, withPolicy(p))
		op := byAttempt([]time.Duration{0, 0, 0, 0}, []error{errFlaky, errFlaky, errFlaky, nil})
		tl, err := e.DoWithTimeline(context.Background(), key, op)
		if err != nil || len(tl.Attempts) != 4 || tl.Attempts[2].Backoff != 100*time.Millisecond {
			t.Fatalf("err=%v\n%v", err, tl)
		}
	})
}

// TestHedgeAbortEndsCall verifies a fatal result from a hedge ends the call.
func TestHedgeAbortEndsCall(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEngine(t, withPolicy(hedged(1, 10*time.Millisecond)))
		op := byAttempt([]time.Duration{time.Hour, 0}, []error{nil, classify.Permanent(errFlaky)})
		err := e.Do(context.Background(), key, op)
		var re *Error
		if !errors.As(err, &re) || re.Reason != StopAbort || !errors.Is(err, errFlaky) {
			t.Fatalf("err=%v", err)
		}
	})
}

// TestHedgeBudgetExhaustion verifies a refused hedge stops hedging without
// cancelling the attempts in flight.
func TestHedgeBudgetExhaustion(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		lim, err := budget.NewConcurrency(budget.ConcurrencyConfig{Max: 1})
		if err != nil {
			t.Fatal(err)
		}
		p := hedged(2, 50*time.Millisecond)
		p.HedgeBudget = "one"
		e := newEngine(t, withPolicy(p), WithBudget("one", lim))
		op := byAttempt([]time.Duration{time.Hour, 150 * time.Millisecond, 0}, []error{nil, nil, nil})
		start := time.Now()
		tl, err := e.DoWithTimeline(context.Background(), key, op)
		if err != nil || time.Since(start) != 200*time.Millisecond {
			t.Fatalf("err=%v after %v\n%v", err, time.Since(start), tl)
		}
		if len(tl.Attempts) != 2 || !hasEvent(tl, observe.EventBudgetDenied) {
			t.Errorf("timeline:\n%v", tl)
		}
		synctest.Wait()
		if st := lim.Stats(); st.InFlight != 0 || st.Acquired != st.Released || st.Denied != 1 {
			t.Errorf("budget stats %+v", st)
		}
	})
}

// TestHedgePanicReRaised verifies a panic in a hedge goroutine reaches the caller.
func TestHedgePanicReRaised(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		o := &recObserver{t: t}
		e := newEngine(t, withPolicy(hedged(1, 10*time.Millisecond)), WithObserver(o))
		op := func(ctx context.Context) error {
			if info, _ := observe.AttemptFromContext(ctx); info.Hedge {
				panic("hedge boom")
			}
			return wait(ctx, time.Hour)
		}
		func() {
			defer func() {
				if r := recover(); r != "hedge boom" {
					t.Errorf("recovered %v", r)
				}
			}()
			e.Do(context.Background(), key, op)
		}()
		if log := strings.Join(o.log(), " "); !strings.HasSuffix(log, "failure") || !strings.HasPrefix(log, "start") {
			t.Errorf("observer saw %q", log)
		}
	})
}

// TestHedgeCallerCancel verifies a cancel ends a hedged call at once and every
// attempt's goroutine ends.
func TestHedgeCallerCancel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEngine(t, withPolicy(hedged(2, 10*time.Millisecond)))
		ctx, cancel := context.WithTimeout(context.Background(), 35*time.Millisecond)
		defer cancel()
		op := func(ctx context.Context) error { return wait(ctx, time.Hour) }
		start := time.Now()
		err := e.Do(ctx, key, op)
		if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) != 35*time.Millisecond {
			t.Fatalf("err=%v after %v", err, time.Since(start))
		}
	})
}

// TestHedgeArmedNotFiredAllocs verifies the hedged fast path: no goroutine and
// at most 3 allocations when the primary answers before the delay.
func TestHedgeArmedNotFiredAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are meaningless under -race")
	}
	e := newEngine(t, withPolicy(hedged(1, time.Second)))
	ctx := context.Background()
	op := func(context.Context) error { return nil }
	e.Do(ctx, key, op)
	if n := testing.AllocsPerRun(1000, func() { e.Do(ctx, key, op) }); n > 3 {
		t.Errorf("hedge armed, not fired: %v allocs per call, want <= 3", n)
	}
}

// TestLatencyAwareHedge verifies the percentile trigger learns the key's latency
// and then fires near the observed percentile.
func TestLatencyAwareHedge(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := fixed(1, time.Millisecond)
		p.Hedge = policy.Hedge{MaxHedges: 1, Delay: time.Second, Percentile: 90, MinSamples: 50}
		e := newEngine(t, withPolicy(p))
		rng := rand.New(rand.NewPCG(7, 7))
		for range 200 { // latencies uniform in [10ms, 110ms): p90 ~ 100ms
			d := 10*time.Millisecond + time.Duration(rng.Int64N(int64(100*time.Millisecond)))
			e.Do(context.Background(), key, func(ctx context.Context) error { return wait(ctx, d) })
		}
		<-time.After(10 * time.Millisecond) // let the worker drain its mailbox
		w, _ := e.pool.Lookup(key)
		got := w.Snapshot().hedgeDelay()
		if got < 95*time.Millisecond || got > 106*time.Millisecond {
			t.Fatalf("hedge delay %v, want about p90 = 100ms", got)
		}
		op := byAttempt([]time.Duration{time.Hour, 5 * time.Millisecond}, []error{nil, nil})
		tl, err := e.DoWithTimeline(context.Background(), key, op)
		if err != nil || len(tl.Attempts) != 2 {
			t.Fatalf("err=%v\n%v", err, tl)
		}
		if fired := tl.Attempts[1].Start.Sub(tl.Start); fired < got || fired > got+2*time.Millisecond {
			t.Errorf("hedge fired after %v, want %v", fired, got)
		}
	})
}

// storm runs calls at rate per second for dur against a backend that always
// fails, and returns attempts per call. Every first attempt runs on run's
// fast path (no timeline, no observer, no Timeout); the retries in loop.
func storm(t *testing.T, opts ...Option) float64 {
	var amp float64
	synctest.Test(t, func(t *testing.T) {
		p := fixed(3, time.Millisecond)
		e := newEngine(t, append([]Option{withPolicy(p)}, opts...)...)
		var attempts, calls int
		op := func(context.Context) error { attempts++; return errFlaky }
		const rate, dur = 200, 60 * time.Second
		for start := time.Now(); time.Since(start) < dur; {
			next := time.Now().Add(time.Second / rate)
			e.Do(context.Background(), key, op)
			calls++
			<-time.After(time.Until(next))
		}
		amp = float64(attempts) / float64(calls)
		t.Logf("%d calls, %d attempts: %.3fx", calls, attempts, amp)
	})
	return amp
}

// TestRetryStormBounded verifies the default budgets keep a failing backend's
// load at about 1.1x plus the floor, that they do grant the 10% (a budget
// that missed the first attempts would grant only the floor, 1.05x), and
// that without budgets the load triples.
func TestRetryStormBounded(t *testing.T) {
	// 200 calls/s: 10% (20/s) plus the 10/s floor = 30 retries/s = 1.15x.
	if amp := storm(t); amp > 1.1+10.0/200+0.01 || amp < 1.1 {
		t.Errorf("with default budgets: %.3fx, want 1.1x to 1.16x", amp)
	}
	if amp := storm(t, WithKeyBudgets(nil, nil)); amp < 2.99 {
		t.Errorf("without budgets: %.3fx, want 3x", amp)
	}
}

// TestBudgetConservation verifies every permit acquired is released after a
// random mix of calls, hedges, failures and cancellations.
func TestBudgetConservation(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		lim, _ := budget.NewConcurrency(budget.ConcurrencyConfig{Max: 8})
		p := hedged(3, 5*time.Millisecond)
		p.Retry = fixed(3, time.Millisecond).Retry
		p.RetryBudget, p.HedgeBudget = "lim", "lim"
		e := newEngine(t, withPolicy(p), WithBudget("lim", lim))
		var wg sync.WaitGroup
		for g := range 16 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				rng := rand.New(rand.NewPCG(uint64(g), 1))
				for range 50 {
					ctx, cancel := context.WithTimeout(context.Background(), time.Duration(rng.IntN(40))*time.Millisecond)
					// Hedges run the op concurrently: it uses the goroutine-safe global source.
					e.Do(ctx, key, func(ctx context.Context) error {
						if err := wait(ctx, time.Duration(rand.IntN(20))*time.Millisecond); err != nil {
							return err
						}
						if rand.IntN(3) == 0 {
							return errFlaky
						}
						return nil
					})
					cancel()
				}
			}()
		}
		wg.Wait()
		synctest.Wait() // losers still running end on their own
		st := lim.Stats()
		if st.InFlight != 0 || st.Acquired != st.Released || st.Unmatched != 0 || st.Acquired == 0 {
			t.Fatalf("budget not conserved: %+v", st)
		}
		t.Logf("%+v", st)
	})
}

// TestIdleEviction verifies an unused key's worker is evicted and recreated.
func TestIdleEviction(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEngine(t, WithIdleTimeout(time.Second))
		ok := func(context.Context) error { return nil }
		e.Do(context.Background(), key, ok)
		w1, _ := e.pool.Lookup(key)
		<-time.After(3 * time.Second)
		if n := e.pool.Len(); n != 0 {
			t.Fatalf("%d workers after the idle timeout, want 0", n)
		}
		e.Do(context.Background(), key, ok)
		if w2, found := e.pool.Lookup(key); !found || w2 == w1 {
			t.Fatalf("worker not recreated (found=%v, same=%v)", found, w2 == w1)
		}
	})
}

// TestOverflowWorker verifies keys past MaxKeys share the overflow worker, with a
// fallback event on each call and a single warning.
func TestOverflowWorker(t *testing.T) {
	var logs bytes.Buffer
	e := newEngine(t, WithMaxKeys(2), WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	ok := func(context.Context) error { return nil }
	for _, k := range []string{"a.X", "b.X", "c.X", "d.X", "a.X"} {
		tl, _ := e.DoWithTimeline(context.Background(), policy.ParseKey(k), ok)
		over := hasEvent(tl, observe.EventFallback)
		if want := k == "c.X" || k == "d.X"; over != want {
			t.Errorf("%s: fallback event %v, want %v", k, over, want)
		}
	}
	if n := strings.Count(logs.String(), "too many distinct policy keys"); n != 1 {
		t.Errorf("warning logged %d times, want once:\n%s", n, logs.String())
	}
}

// TestHedgeClassifierPanic verifies a classifier that panics on a hedge's
// result reaches the caller as a panic instead of crashing the process, and
// the hedge's permit is released.
func TestHedgeClassifierPanic(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		lim, _ := budget.NewConcurrency(budget.ConcurrencyConfig{Max: 4})
		p := hedged(1, 10*time.Millisecond)
		p.Classifier, p.HedgeBudget = "picky", "lim"
		picky := classify.Func(func(ctx context.Context, err error) classify.Verdict {
			if errors.Is(err, errFlaky) {
				panic("classifier boom")
			}
			return classify.Default.Classify(ctx, err)
		})
		e := newEngine(t, withPolicy(p), WithClassifier("picky", picky), WithBudget("lim", lim))
		op := byAttempt([]time.Duration{time.Hour, 0}, []error{nil, errFlaky})
		func() {
			defer func() {
				if r := recover(); r != "classifier boom" {
					t.Errorf("recovered %v", r)
				}
			}()
			e.Do(context.Background(), key, op)
		}()
		synctest.Wait()
		if st := lim.Stats(); st.InFlight != 0 || st.Acquired != st.Released {
			t.Errorf("hedge permit not released: %+v", st)
		}
	})
}

// TestHedgeGoexit verifies a hedge whose op calls runtime.Goexit ends the
// caller's goroutine the same way, instead of leaving it waiting.
func TestHedgeGoexit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEngine(t, withPolicy(hedged(1, 10*time.Millisecond)))
		op := func(ctx context.Context) error {
			if info, _ := observe.AttemptFromContext(ctx); info.Hedge {
				runtime.Goexit()
			}
			return wait(ctx, time.Hour)
		}
		exited := make(chan bool)
		go func() {
			returned := false
			defer func() { exited <- !returned }()
			e.Do(context.Background(), key, op)
			returned = true
		}()
		if !<-exited {
			t.Fatal("Do returned; want the caller's goroutine to Goexit")
		}
	})
}

// TestPanickingObserverReleasesPermit verifies a retry permit is given back
// even when an observer panics in the caller's goroutine.
func TestPanickingObserverReleasesPermit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		lim, _ := budget.NewConcurrency(budget.ConcurrencyConfig{Max: 4})
		p := fixed(3, time.Millisecond)
		p.RetryBudget = "lim"
		boom := &panicOnAttempt{at: 1}
		e := newEngine(t, withPolicy(p), WithBudget("lim", lim), WithObserver(boom))
		op, _ := failN(10, errFlaky)
		func() {
			defer func() { recover() }()
			e.Do(context.Background(), key, op)
		}()
		if st := lim.Stats(); st.InFlight != 0 || st.Acquired != st.Released || st.Acquired == 0 {
			t.Fatalf("permit leaked: %+v", st)
		}
	})
}

// panicOnAttempt is an observer that panics on the attempt with index at.
type panicOnAttempt struct {
	observe.Base
	at int
}

func (o *panicOnAttempt) OnAttempt(ctx context.Context, key policy.Key, rec observe.AttemptRecord) {
	if rec.Index == o.at {
		panic("observer boom")
	}
}

// TestHedgedPrimaryClassifierPanic verifies that a classifier panicking on the
// primary's result, with and without an observer (the fast path lets the
// panic through unrecorded), re-raises in the caller and leaves no hedge to
// fire afterwards.
func TestHedgedPrimaryClassifierPanic(t *testing.T) {
	for _, observed := range []bool{false, true} {
		t.Run(fmt.Sprint("observed=", observed), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				p := hedged(1, 10*time.Millisecond)
				p.Classifier = "boom"
				boom := classify.Func(func(context.Context, error) classify.Verdict { panic("classifier boom") })
				opts := []Option{withPolicy(p), WithClassifier("boom", boom)}
				if observed {
					opts = append(opts, WithObserver(&countObserver{}))
				}
				e := newEngine(t, opts...)
				var calls atomic.Int32
				func() {
					defer func() {
						if r := recover(); r != "classifier boom" {
							t.Errorf("recovered %v", r)
						}
					}()
					e.Do(context.Background(), key, func(context.Context) error { calls.Add(1); return nil })
				}()
				<-time.After(time.Second) // long past the hedge delay
				synctest.Wait()
				if n := calls.Load(); n != 1 {
					t.Fatalf("op ran %d times: a hedge fired after the call panicked", n)
				}
			})
		})
	}
}

// TestKeyBudgetsCountFirstAttemptsOnce verifies a key's default retry and
// hedge budgets, a pair sharing their deposits, see each first attempt
// once, and that a hedge budget left on its own (the policy names a shared
// retry budget) still sees them.
func TestKeyBudgetsCountFirstAttemptsOnce(t *testing.T) {
	for _, shared := range []bool{false, true} {
		t.Run(fmt.Sprint("named-retry-budget=", shared), func(t *testing.T) {
			p := hedged(1, time.Hour)
			opts := []Option{}
			if shared {
				lim, _ := budget.NewConcurrency(budget.ConcurrencyConfig{Max: 4})
				p.RetryBudget = "lim"
				opts = append(opts, WithBudget("lim", lim))
			}
			e := newEngine(t, append(opts, withPolicy(p))...)
			for range 40 {
				if err := e.Do(context.Background(), key, func(context.Context) error { return nil }); err != nil {
					t.Fatal(err)
				}
			}
			w, ok := e.pool.Lookup(key)
			if !ok {
				t.Fatal("no worker for the key")
			}
			retry, hedge := w.Budgets()
			if got := hedge.(*budget.Ratio).Stats().FirstAttempts; got != 40 {
				t.Fatalf("the hedge budget counted %d first attempts, want 40", got)
			}
			if got := retry.(*budget.Ratio).Stats().FirstAttempts; !shared && got != 40 {
				t.Fatalf("the retry budget counted %d first attempts, want 40", got)
			}
		})
	}
}
