package keyworker

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/regoresilience/rego/budget"
	"github.com/regoresilience/rego/hedge"
	"github.com/regoresilience/rego/policy"
	"github.com/regoresilience/rego/scheduler"
)

// newPool returns a pool on a fresh scheduler; both are closed at the end of the test.
func newPool(t testing.TB, cfg Config) *Pool[snap] {
	t.Helper()
	s, err := scheduler.New()
	if err != nil {
		t.Fatal(err)
	}
	cfg.Scheduler, cfg.Clock = s, scheduler.SystemClock()
	p, err := NewPool[snap](cfg)
	if err != nil {
		s.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close(); s.Close() })
	return p
}

// snap stands for the owner's snapshot type: the pool never looks inside.
type snap struct{ version int }

// p50 is a latency-aware trigger for the tests: the p50 of 10 samples.
var p50 = hedge.TriggerFor(policy.Hedge{MaxHedges: 1, Delay: time.Second, Percentile: 50, MinSamples: 10}).(hedge.Percentile)

// learned returns what w learned for p50, or the trigger's fallback.
func learned(w *Worker[snap]) time.Duration {
	if d, ok := w.LearnedDelay(p50); ok {
		return d
	}
	return p50.Fallback
}

// TestGetCreatesOnce verifies a key gets one worker, found again by Lookup.
func TestGetCreatesOnce(t *testing.T) {
	p := newPool(t, Config{})
	k := policy.ParseKey("svc.Op")
	if _, ok := p.Lookup(k); ok {
		t.Fatal("Lookup found a worker before Get")
	}
	w1, over := p.Get(k)
	w2, _ := p.Get(k)
	w3, _ := p.Lookup(k)
	if over || w1 != w2 || w1 != w3 || p.Len() != 1 || w1.Key() != k {
		t.Fatalf("over=%v same=%v,%v len=%d", over, w1 == w2, w1 == w3, p.Len())
	}
}

// TestOverflow verifies keys past MaxKeys share the overflow worker, with one warning.
func TestOverflow(t *testing.T) {
	var logs bytes.Buffer
	p := newPool(t, Config{MaxKeys: 2, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	for i := range 5 {
		w, over := p.Get(policy.Key{Namespace: "ns", Name: fmt.Sprint("K", i)})
		if want := i >= 2; over != want || (over && w != p.Overflow()) {
			t.Fatalf("key %d: overflow=%v", i, over)
		}
	}
	if p.Len() != 2 || strings.Count(logs.String(), "too many distinct policy keys") != 1 {
		t.Fatalf("len=%d logs:\n%s", p.Len(), logs.String())
	}
}

// TestKeyBudgets verifies each key gets its own budgets from the factories.
func TestKeyBudgets(t *testing.T) {
	p := newPool(t, Config{Budgets: func() (budget.Budget, budget.Budget) { return budget.DefaultRetry(nil), nil }})
	a, _ := p.Get(policy.ParseKey("a.X"))
	b, _ := p.Get(policy.ParseKey("b.X"))
	ar, ah := a.Budgets()
	br, _ := b.Budgets()
	if ar == nil || ar == br || ah != nil {
		t.Fatalf("retry %p %p hedge %v", ar, br, ah)
	}
}

// TestInvalidConfig verifies bad configs are errors.
func TestInvalidConfig(t *testing.T) {
	s, _ := scheduler.New()
	defer s.Close()
	clk := scheduler.SystemClock()
	for name, cfg := range map[string]Config{
		"no scheduler": {Clock: clk},
		"negative max": {Scheduler: s, Clock: clk, MaxKeys: -1},
		"mailbox":      {Scheduler: s, Clock: clk, MailboxSize: 3},
		"idle":         {Scheduler: s, Clock: clk, IdleTimeout: -time.Second},
		"tracker":      {Scheduler: s, Clock: clk, Tracker: hedge.TrackerConfig{Windows: -1}},
	} {
		if _, err := NewPool[snap](cfg); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// TestWorkerLearnsDelay verifies samples posted by call sites move the published
// hedge delay to the observed percentile, without the call sites waiting.
func TestWorkerLearnsDelay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newPool(t, Config{})
		w, _ := p.Get(policy.ParseKey("svc.Op"))
		if w.Post(time.Millisecond) {
			t.Fatal("Post accepted before any snapshot needs samples")
		}
		w.Track(p50)
		for i := range 100 {
			w.Post(time.Duration(i+1) * time.Millisecond)
			if i%20 == 19 {
				<-time.After(5 * time.Millisecond) // let the worker drain between bursts
			}
		}
		<-time.After(5 * time.Millisecond)
		if d := learned(w); d < 49*time.Millisecond || d > 52*time.Millisecond {
			t.Fatalf("hedge delay %v, want the p50 of 1..100ms", d)
		}
		if st := w.Stats(); st.Posted != 100 || st.Dropped != 0 {
			t.Fatalf("stats %+v", st)
		}
	})
}

// TestTrackKeepsLearnedDelay verifies a policy re-published with the same
// trigger keeps what the worker learned, and another trigger does not
// read it.
func TestTrackKeepsLearnedDelay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newPool(t, Config{})
		w, _ := p.Get(policy.ParseKey("svc.Op"))
		w.Track(p50)
		for range 20 {
			w.Post(7 * time.Millisecond)
		}
		<-time.After(5 * time.Millisecond)
		w.Track(p50)
		if d := learned(w); d < 7*time.Millisecond || d > 8*time.Millisecond {
			t.Fatalf("delay %v after re-publish", d)
		}
		p90 := p50
		p90.P = 90
		if _, ok := w.LearnedDelay(p90); ok {
			t.Fatal("a delay learned for p50 was served for p90")
		}
		w.Track(p90)
		<-time.After(5 * time.Millisecond) // Track wakes the worker to recompute
		if d, ok := w.LearnedDelay(p90); !ok || d < 7*time.Millisecond || d > 8*time.Millisecond {
			t.Fatalf("p90 delay %v, %v after the trigger changed", d, ok)
		}
	})
}

// TestMailboxFullDrops verifies a full mailbox drops and counts instead of blocking.
func TestMailboxFullDrops(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newPool(t, Config{MailboxSize: 4})
		w, _ := p.Get(policy.ParseKey("svc.Op"))
		// A mailbox that no worker goroutine drains: goroutines of a synctest
		// bubble run in parallel, so a running worker (which Post wakes every
		// half mailbox) could empty it meanwhile and make the count vary.
		w.mb.Store(newMailbox(4))
		accepted := 0
		for range 100 {
			if w.Post(time.Millisecond) {
				accepted++
			}
		}
		if st := w.Stats(); accepted != 4 || st.Dropped != 96 {
			t.Fatalf("accepted %d, stats %+v", accepted, st)
		}
	})
}

// TestIdleEviction verifies an unused worker is evicted (its goroutine ends) and
// a used one is kept.
func TestIdleEviction(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newPool(t, Config{IdleTimeout: time.Second})
		idle, _ := p.Get(policy.ParseKey("idle.X"))
		idle.Track(p50) // starts its goroutine
		busy := policy.ParseKey("busy.X")
		for range 30 {
			p.Get(busy)
			<-time.After(100 * time.Millisecond)
		}
		if _, ok := p.Lookup(policy.ParseKey("idle.X")); ok {
			t.Fatal("idle worker not evicted")
		}
		if _, ok := p.Lookup(busy); !ok || p.Len() != 1 {
			t.Fatalf("busy worker evicted (len %d)", p.Len())
		}
		select {
		case <-idle.stop:
		default:
			t.Fatal("evicted worker not stopped")
		}
		<-time.After(3 * time.Second)
		if p.Len() != 0 {
			t.Fatal("pool not empty after everything went idle")
		}
	})
}

// TestCloseWaits verifies Close ends every goroutine, and Track after Close
// starts none.
func TestCloseWaits(t *testing.T) {
	p := newPool(t, Config{})
	w, _ := p.Get(policy.ParseKey("svc.Op"))
	w.Track(p50)
	p.Close()
	w2, _ := p.Get(policy.ParseKey("svc.Other"))
	w2.Track(p50)
	if w2.Post(time.Millisecond) {
		t.Fatal("Post accepted by a worker of a closed pool")
	}
	p.Close() // idempotent
}

// TestMemoryPerKey measures what a key costs: heap and goroutine stacks, with and
// without latency-aware hedging. Targets: <= 4 KiB without, <= 64 KiB with.
func TestMemoryPerKey(t *testing.T) {
	if raceEnabled || testing.Short() {
		t.Skip("memory figures are meaningless under -race; skipped in -short")
	}
	const keys = 10_000
	for _, tc := range []struct {
		name   string
		learns bool
		limit  float64
	}{
		{"no-hedging", false, 4 << 10},
		{"latency-hedging", true, 64 << 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newPool(t, Config{MaxKeys: keys,
				Budgets: func() (budget.Budget, budget.Budget) { return budget.DefaultRetry(nil), budget.DefaultHedge(nil) }})
			before := memUsed()
			for i := range keys {
				w, _ := p.Get(policy.Key{Namespace: "ns", Name: fmt.Sprint("K", i)})
				w.Publish(&snap{})
				if tc.learns {
					w.Track(p50)
				}
				w.Post(time.Millisecond) // a tracking worker creates its tracker
			}
			waitDrained(p)
			per := float64(memUsed()-before) / keys
			t.Logf("%s: %.0f bytes per key (%d keys, heap + stacks)", tc.name, per, keys)
			if per > tc.limit {
				t.Errorf("%.0f bytes per key, want <= %.0f", per, tc.limit)
			}
			runtime.KeepAlive(p)
		})
	}
}

func memUsed() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc + m.StackInuse
}

// waitDrained waits until every tracking worker has created its tracker.
func waitDrained(p *Pool[snap]) {
	for {
		pending := 0
		p.workers.Range(func(_ policy.Key, w *Worker[snap]) bool {
			if mb := w.mb.Load(); mb != nil && !mb.empty() {
				pending++
			}
			return true
		})
		if pending == 0 {
			return
		}
		runtime.Gosched()
	}
}

// TestNoSpuriousOverflow verifies goroutines racing to create the same key at
// the cap all get its worker: only a genuinely new key past the cap overflows.
func TestNoSpuriousOverflow(t *testing.T) {
	for range 50 {
		p := newPool(t, Config{MaxKeys: 2})
		p.Get(policy.ParseKey("a.X"))
		k := policy.ParseKey("b.X")
		var wg sync.WaitGroup
		var overflowed atomic.Int32
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, over := p.Get(k); over {
					overflowed.Add(1)
				}
			}()
		}
		wg.Wait()
		if n := overflowed.Load(); n != 0 || p.Len() != 2 {
			t.Fatalf("%d of 8 racing creators of one key overflowed (len %d)", n, p.Len())
		}
		if _, over := p.Get(policy.ParseKey("c.X")); !over {
			t.Fatal("a third key did not overflow")
		}
	}
}
