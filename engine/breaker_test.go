package engine

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/regoresilience/rego/breaker"
	"github.com/regoresilience/rego/classify"
	"github.com/regoresilience/rego/controlplane"
	"github.com/regoresilience/rego/observe"
	"github.com/regoresilience/rego/policy"
	"github.com/regoresilience/rego/scheduler"
)

// breakerPolicy: one attempt per call, and a breaker that opens at 50%
// failures over 4 attempts for 1s and closes after one good probe.
func breakerPolicy() policy.Policy {
	return policy.Policy{Retry: policy.Retry{MaxAttempts: 1},
		Breaker: policy.Breaker{FailureRate: 50, MinCalls: 4, Window: 10 * time.Second, OpenDuration: time.Second, HalfOpenProbes: 1}}
}

// keyBreaker returns the breaker of key's current snapshot.
func keyBreaker(t *testing.T, e *Engine) *breaker.Breaker {
	t.Helper()
	kp, err := e.keyPolicy(key)
	if err != nil {
		t.Fatal(err)
	}
	b := kp.breaker
	if b == nil {
		t.Fatal("the key has no breaker")
	}
	return b
}

// TestBreakerRefusesFast verifies that an open breaker fails calls at once,
// without running op, with ErrBreakerOpen, reason breaker_open, an event on
// the timeline and OnStart then OnFailure for observers; and that after
// OpenDuration a successful probe closes it.
func TestBreakerRefusesFast(t *testing.T) {
	clk := scheduler.NewFakeClock(time.Unix(1_700_000_000, 0))
	obs := &recObserver{t: t}
	e := newEngine(t, withPolicy(breakerPolicy()), WithClock(clk), WithObserver(obs))
	ctx := context.Background()
	fail := func(context.Context) error { return errFlaky }
	for range 4 {
		if err := e.Do(ctx, key, fail); !errors.Is(err, errFlaky) {
			t.Fatalf("err = %v", err)
		}
	}
	if got := keyBreaker(t, e).State(); got != breaker.Open {
		t.Fatalf("state %v after 4 failures", got)
	}

	before := len(obs.log())
	ran := false
	tl, err := e.DoWithTimeline(ctx, key, func(context.Context) error { ran = true; return nil })
	var re *Error
	if ran || !errors.Is(err, ErrBreakerOpen) || !asError(err, &re) || re.Reason != StopBreakerOpen || re.Attempts != 0 {
		t.Fatalf("ran=%v err=%v", ran, err)
	}
	if err.Error() != "rego: svc.Op: breaker_open after 0 attempts (rego: circuit breaker open)" {
		t.Errorf("message %q", err.Error())
	}
	if len(tl.Attempts) != 0 || !hasEvent(tl, observe.EventBreakerOpen) || tl.FinalErr != err {
		t.Fatalf("timeline:\n%v", tl)
	}
	if ev := tl.Events[len(tl.Events)-1]; ev.Name != "breaker" || ev.Detail != "call refused: circuit breaker open" {
		t.Errorf("event %+v", ev)
	}
	if got := obs.log()[before:]; !slices.Equal(got, []string{"start", "failure"}) {
		t.Errorf("observers saw %q", got)
	}
	// The fast path (no timeline) refuses too.
	if err := e.Do(ctx, key, func(context.Context) error { ran = true; return nil }); ran || !errors.Is(err, ErrBreakerOpen) {
		t.Fatalf("fast path: ran=%v err=%v", ran, err)
	}

	clk.Advance(time.Second)
	if err := e.Do(ctx, key, func(context.Context) error { return nil }); err != nil {
		t.Fatalf("probe: %v", err)
	}
	if got := keyBreaker(t, e).State(); got != breaker.Closed {
		t.Fatalf("state %v after a good probe", got)
	}
}

// TestBreakerWhatCounts verifies that aborts (a Permanent error) count as
// successes and that attempts ended by the caller giving up do not count.
func TestBreakerWhatCounts(t *testing.T) {
	clk := scheduler.NewFakeClock(time.Unix(1_700_000_000, 0))
	e := newEngine(t, withPolicy(breakerPolicy()), WithClock(clk))
	for range 10 {
		e.Do(context.Background(), key, func(context.Context) error { return classify.Permanent(errFlaky) })
	}
	for range 10 {
		ctx, cancel := context.WithCancel(context.Background())
		e.Do(ctx, key, func(context.Context) error { cancel(); return context.Canceled })
	}
	s := keyBreaker(t, e).Stats()
	if s.State != breaker.Closed || s.Calls != 10 || s.Failures != 0 {
		t.Fatalf("stats %+v, want 10 calls, no failure", s)
	}
}

// TestBreakerProbeGivenBack verifies that a half-open probe whose caller
// gives up returns its place, and that a probe does not hedge.
func TestBreakerProbeGivenBack(t *testing.T) {
	clk := scheduler.NewFakeClock(time.Unix(1_700_000_000, 0))
	p := breakerPolicy()
	p.Hedge = policy.Hedge{MaxHedges: 2, Delay: time.Millisecond}
	e := newEngine(t, withPolicy(p), WithClock(clk))
	for range 4 {
		e.Do(context.Background(), key, func(context.Context) error { return errFlaky })
	}
	clk.Advance(time.Second)

	ctx, cancel := context.WithCancel(context.Background())
	tl, err := e.DoWithTimeline(ctx, key, func(context.Context) error { cancel(); return context.Canceled })
	if !errors.Is(err, context.Canceled) || len(tl.Attempts) != 1 {
		t.Fatalf("err=%v timeline:\n%v", err, tl)
	}
	if got := keyBreaker(t, e).State(); got != breaker.HalfOpen {
		t.Fatalf("state %v", got)
	}
	tl, err = e.DoWithTimeline(context.Background(), key, func(context.Context) error { return nil })
	if err != nil || len(tl.Attempts) != 1 || hasEvent(tl, observe.EventHedgeFired) {
		t.Fatalf("second probe: err=%v timeline:\n%v", err, tl)
	}
	if got := keyBreaker(t, e).State(); got != breaker.Closed {
		t.Fatalf("state %v", got)
	}
}

// TestBreakerFastPathProbeGivenBack verifies that a half-open probe on a
// call with nothing to record (no timeline, no observer: the fast path's
// case) gives its place back when its caller gives up.
func TestBreakerFastPathProbeGivenBack(t *testing.T) {
	clk := scheduler.NewFakeClock(time.Unix(1_700_000_000, 0))
	e := newEngine(t, withPolicy(breakerPolicy()), WithClock(clk))
	for range 4 {
		e.Do(context.Background(), key, func(context.Context) error { return errFlaky })
	}
	clk.Advance(time.Second)

	ctx, cancel := context.WithCancel(context.Background())
	if err := e.Do(ctx, key, func(context.Context) error { cancel(); return context.Canceled }); !errors.Is(err, context.Canceled) {
		t.Fatalf("first probe: %v", err)
	}
	// Same instant: the place is free again only if the probe gave it back.
	if err := e.Do(context.Background(), key, func(context.Context) error { return nil }); err != nil {
		t.Fatalf("second probe: %v", err)
	}
	if got := keyBreaker(t, e).State(); got != breaker.Closed {
		t.Fatalf("state %v after a good probe", got)
	}
}

// TestBreakerProbeNeverHedges verifies that a half-open probe arms no hedge,
// with or without a timeline (the fast path's case): a probe is one attempt
// even if, while it runs, another probe closes the breaker (a later
// half-open period, the first probe's place having been held for
// OpenDuration) and its hedge delay passes.
func TestBreakerProbeNeverHedges(t *testing.T) {
	for _, timeline := range []bool{false, true} {
		t.Run(map[bool]string{false: "do", true: "timeline"}[timeline], func(t *testing.T) { probeNeverHedges(t, timeline) })
	}
}

func probeNeverHedges(t *testing.T, timeline bool) {
	synctest.Test(t, func(t *testing.T) {
		p := breakerPolicy()
		p.Hedge = policy.Hedge{MaxHedges: 1, Delay: 5 * time.Second}
		e := newEngine(t, withPolicy(p))
		for range 4 {
			e.Do(context.Background(), key, func(context.Context) error { return errFlaky })
		}
		time.Sleep(time.Second) // OpenDuration: the next call probes

		var attempts atomic.Int32
		release := make(chan struct{})
		done := make(chan *observe.Timeline)
		go func() {
			op := func(ctx context.Context) error {
				attempts.Add(1)
				select {
				case <-release:
				case <-ctx.Done():
				}
				return nil
			}
			var tl *observe.Timeline
			if timeline {
				tl, _ = e.DoWithTimeline(context.Background(), key, op)
			} else {
				e.Do(context.Background(), key, op)
			}
			done <- tl
		}()
		synctest.Wait() // the probe's primary is running
		time.Sleep(time.Second)
		if err := e.Do(context.Background(), key, func(context.Context) error { return nil }); err != nil {
			t.Fatalf("probe of the next half-open period: %v", err)
		}
		if got := keyBreaker(t, e).State(); got != breaker.Closed {
			t.Fatalf("state %v after a good probe", got)
		}
		time.Sleep(5 * time.Second) // past the first probe's hedge delay
		synctest.Wait()
		close(release)
		tl := <-done
		if n := attempts.Load(); n != 1 || (tl != nil && hasEvent(tl, observe.EventHedgeFired)) {
			t.Fatalf("%d attempts; timeline:\n%v", n, tl)
		}
	})
}

// TestBreakerStopsRetries verifies that a call whose failures open the
// breaker makes no further retry: it ends with reason breaker_open and the
// last attempt's error.
func TestBreakerStopsRetries(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := fixed(5, 10*time.Millisecond)
		p.Breaker = policy.Breaker{FailureRate: 50, MinCalls: 3}
		e := newEngine(t, withPolicy(p))
		op, calls := failN(100, errFlaky)
		tl, err := e.DoWithTimeline(context.Background(), key, op)
		var re *Error
		if *calls != 3 || !asError(err, &re) || re.Reason != StopBreakerOpen || !errors.Is(err, errFlaky) || !errors.Is(err, ErrBreakerOpen) {
			t.Fatalf("calls=%d err=%v", *calls, err)
		}
		if ev := tl.Events[len(tl.Events)-1]; ev.Kind != observe.EventBreakerOpen || ev.Attempt != 3 || ev.Detail != "retry refused: circuit breaker open" {
			t.Errorf("event %+v", ev)
		}
	})
}

// TestBreakerKeptAcrossReload verifies that a policy reload that leaves the
// breaker's configuration unchanged keeps its state, and one that changes it
// starts a new, closed breaker.
func TestBreakerKeptAcrossReload(t *testing.T) {
	clk := scheduler.NewFakeClock(time.Unix(1_700_000_000, 0))
	snap := func(v uint64, p policy.Policy) *controlplane.Snapshot {
		s, err := policy.NewSet(map[string]policy.Policy{"*": p, "other.*": {}})
		if err != nil {
			t.Fatal(err)
		}
		return &controlplane.Snapshot{Set: s, Version: v, Source: controlplane.SourceFile}
	}
	prov := &swapProvider{cur: snap(1, breakerPolicy())}
	e := newEngine(t, WithProvider(prov), WithClock(clk))
	for range 4 {
		e.Do(context.Background(), key, func(context.Context) error { return errFlaky })
	}
	prov.cur = snap(2, breakerPolicy())
	if err := e.Do(context.Background(), key, func(context.Context) error { return nil }); !errors.Is(err, ErrBreakerOpen) {
		t.Fatalf("after an unrelated reload: %v", err)
	}
	changed := breakerPolicy()
	changed.Breaker.MinCalls = 5
	prov.cur = snap(3, changed)
	if err := e.Do(context.Background(), key, func(context.Context) error { return nil }); err != nil {
		t.Fatalf("after a breaker change: %v", err)
	}
	prov.cur = snap(4, policy.Policy{})
	if kp, err := e.keyPolicy(key); err != nil {
		t.Fatal(err)
	} else if kp.breaker != nil {
		t.Fatal("the breaker outlived its policy")
	}
}

// TestBreakerOverflowKeys verifies that keys sharing the overflow worker get
// no breaker: one key's failures must not refuse the others' calls.
func TestBreakerOverflowKeys(t *testing.T) {
	e := newEngine(t, withPolicy(breakerPolicy()), WithDefaultPolicy(breakerPolicy()), WithMaxKeys(1))
	e.Do(context.Background(), key, func(context.Context) error { return nil })
	other := policy.ParseKey("svc.Other")
	for range 10 {
		e.Do(context.Background(), other, func(context.Context) error { return errFlaky })
	}
	if err := e.Do(context.Background(), policy.ParseKey("svc.Third"), func(context.Context) error { return nil }); err != nil {
		t.Fatalf("an overflow key was refused: %v", err)
	}
}

// TestBreakerConcurrent runs many calls at once on a key whose backend fails
// half the time, under -race: every call either runs or is refused with
// ErrBreakerOpen, never both, and once the backend recovers the breaker
// closes.
func TestBreakerConcurrent(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := fixed(2, time.Millisecond)
		p.Breaker = policy.Breaker{FailureRate: 40, MinCalls: 20, Window: time.Second, OpenDuration: 50 * time.Millisecond, HalfOpenProbes: 2}
		e := newEngine(t, withPolicy(p))
		var ran, refused, failed atomic.Int64
		var wg sync.WaitGroup
		for g := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range 200 {
					var n int
					err := e.Do(context.Background(), key, func(context.Context) error {
						n++
						ran.Add(1)
						if (i+g)%2 == 0 {
							return errFlaky
						}
						return nil
					})
					switch {
					case errors.Is(err, ErrBreakerOpen):
						refused.Add(1)
					case err != nil:
						failed.Add(1)
					}
					time.Sleep(time.Millisecond) // advances the bubble's clock
				}
			}()
		}
		wg.Wait()
		if refused.Load() == 0 || ran.Load() == 0 {
			t.Fatalf("ran %d, refused %d: the breaker never opened", ran.Load(), refused.Load())
		}
		time.Sleep(time.Second) // the backend recovers
		for range 5 {
			e.Do(context.Background(), key, func(context.Context) error { return nil })
		}
		if got := keyBreaker(t, e).State(); got != breaker.Closed {
			t.Fatalf("state %v after recovery", got)
		}
	})
}

// TestBreakerStorm shows the breaker and the retry budget together during an
// outage (deterministic: a synctest bubble, 100 calls a second, 3 attempts
// each). The ratio budget alone bounds the backend's load to about 1.1× the
// calls plus its floor; the breaker cuts it to a few probes per OpenDuration
// and fails the calls at once, and both let traffic through again after the
// backend recovers.
func TestBreakerStorm(t *testing.T) {
	type result struct{ calls, attempts, refused, afterRecovery int }
	storm := func(t *testing.T, p policy.Policy) result {
		var r result
		synctest.Test(t, func(t *testing.T) {
			e := newEngine(t, withPolicy(p))
			down := true
			op := func(context.Context) error {
				r.attempts++
				if down {
					return errFlaky
				}
				return nil
			}
			for i := range 2000 { // 20 s: 10 s down, then 10 s up
				if i == 1000 {
					down = false
				}
				err := e.Do(context.Background(), key, op)
				r.calls++
				if errors.Is(err, ErrBreakerOpen) {
					r.refused++
				}
				if i >= 1000 && err == nil {
					r.afterRecovery++
				}
				time.Sleep(10 * time.Millisecond)
			}
		})
		return r
	}
	p := fixed(3, time.Millisecond)
	budgetOnly := storm(t, p)
	p.Breaker = policy.Breaker{FailureRate: 50, MinCalls: 20, Window: 10 * time.Second, OpenDuration: 2 * time.Second, HalfOpenProbes: 3}
	both := storm(t, p)
	t.Logf("budget only: %+v", budgetOnly)
	t.Logf("budget and breaker: %+v", both)

	// The budget alone: 1000 first attempts while down, and retries
	// within 10% of them plus 10/s (a window's events count for 9 to 10 s,
	// hence the slack); then 1000 calls up.
	if retries := budgetOnly.attempts - 2000; retries < 150 || retries > 260 {
		t.Errorf("budget only: %d retries while down", retries)
	}
	// With the breaker: it opens after its 20 minimum attempts, then
	// refuses nearly everything; every 2 s one probe fails and reopens it.
	if down := both.attempts - both.afterRecovery; down > 40 {
		t.Errorf("budget and breaker: %d attempts while down, want <= 40", down)
	}
	if both.refused < 950 {
		t.Errorf("only %d calls refused", both.refused)
	}
	// Recovery: within one OpenDuration (200 calls) and its probes.
	if both.afterRecovery < 1000-200-3 || budgetOnly.afterRecovery != 1000 {
		t.Errorf("after recovery: %d (breaker), %d (budget only) calls succeeded", both.afterRecovery, budgetOnly.afterRecovery)
	}
}

// TestBreakerSuccessPathAllocs verifies that a closed breaker adds no
// allocation to the success path.
func TestBreakerSuccessPathAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are meaningless under -race")
	}
	p := fixed(3, 10*time.Millisecond)
	p.Breaker = policy.Breaker{FailureRate: 50}
	e := newEngine(t, withPolicy(p))
	ctx := context.Background()
	op := func(context.Context) error { return nil }
	e.Do(ctx, key, op)
	if n := testing.AllocsPerRun(1000, func() { e.Do(ctx, key, op) }); n > 1 {
		t.Errorf("success path with a breaker: %v allocs per call, want <= 1", n)
	}
}

// TestBreakerStopsHedges verifies that a primary whose failure opens the
// breaker fires no hedge (a retryable failure otherwise fires the next hedge
// at once).
func TestBreakerStopsHedges(t *testing.T) {
	p := policy.Policy{Retry: policy.Retry{MaxAttempts: 1}, Hedge: policy.Hedge{MaxHedges: 1, Delay: time.Hour},
		Breaker: policy.Breaker{FailureRate: 50, MinCalls: 1}}
	e := newEngine(t, withPolicy(p))
	var calls atomic.Int32
	tl, err := e.DoWithTimeline(context.Background(), key, func(context.Context) error {
		calls.Add(1)
		return errFlaky
	})
	if !errors.Is(err, errFlaky) || calls.Load() != 1 || len(tl.Attempts) != 1 || hasEvent(tl, observe.EventHedgeFired) ||
		hasEvent(tl, observe.EventBudgetDenied) {
		t.Fatalf("calls=%d err=%v timeline:\n%v", calls.Load(), err, tl)
	}
	// Without the breaker the same failure fires the hedge.
	p.Breaker = policy.Breaker{}
	e = newEngine(t, withPolicy(p))
	calls.Store(0)
	e.Do(context.Background(), key, func(context.Context) error { calls.Add(1); return errFlaky })
	if calls.Load() != 2 {
		t.Fatalf("without a breaker: %d attempts, want 2", calls.Load())
	}
}

// BenchmarkDoBreaker is the success path with the key's breaker off and on
// (closed): what a breaker adds to a call that succeeds at once.
func BenchmarkDoBreaker(b *testing.B) {
	ctx := context.Background()
	op := func(context.Context) error { return nil }
	for _, tc := range []struct {
		name string
		br   policy.Breaker
	}{{"off", policy.Breaker{}}, {"on", policy.Breaker{FailureRate: 50}}} {
		p := fixed(3, 10*time.Millisecond)
		p.Breaker = tc.br
		e := newEngine(b, withPolicy(p))
		b.Run(tc.name+"/seq", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				e.Do(ctx, key, op)
			}
		})
		b.Run(tc.name+"/par", func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					e.Do(ctx, key, op)
				}
			})
		})
	}
}
