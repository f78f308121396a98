package breaker_test

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/regoresilience/rego/breaker"
	"github.com/regoresilience/rego/policy"
)

var testCfg = policy.Breaker{FailureRate: 50, MinCalls: 4, Window: 10 * time.Second,
	OpenDuration: 5 * time.Second, HalfOpenProbes: 2}

func newTest(t *testing.T, cfg policy.Breaker) (*breaker.Breaker, *fakeClock) {
	t.Helper()
	c := &fakeClock{}
	c.Advance(time.Hour) // not at the clock's origin
	b := breaker.New(cfg, c.Now)
	if b == nil {
		t.Fatal("New returned nil")
	}
	return b, c
}

// call runs one single-attempt call through b.
func call(b *breaker.Breaker, failed bool) bool {
	tk, ok := b.Allow()
	if !ok {
		return false
	}
	b.Record(&tk, failed)
	b.Release(&tk)
	return true
}

func wantState(t *testing.T, b *breaker.Breaker, want breaker.State) {
	t.Helper()
	if got := b.State(); got != want {
		t.Fatalf("state %v, want %v (%+v)", got, want, b.Stats())
	}
}

// TestOff verifies that a breaker without a failure rate is no breaker.
func TestOff(t *testing.T) {
	if b := breaker.New(policy.Breaker{MinCalls: 3}, nil); b != nil {
		t.Fatalf("New(off) = %v, want nil", b)
	}
	var tk breaker.Ticket // a zero Ticket is inert
	(*breaker.Breaker)(nil).Release(&tk)
}

// TestStateMachine walks closed -> open -> half-open -> open -> half-open ->
// closed on a fake clock.
func TestStateMachine(t *testing.T) {
	b, clk := newTest(t, testCfg)

	// Below MinCalls nothing opens, whatever the rate.
	for range 3 {
		if !call(b, true) {
			t.Fatal("refused while closed")
		}
	}
	wantState(t, b, breaker.Closed)
	// Successes never open it; the 4th attempt (a failure) reaches
	// MinCalls at 3/4 failed >= 50%.
	call(b, true)
	wantState(t, b, breaker.Open)
	if s := b.Stats(); s.Opened != 1 {
		t.Fatalf("Opened = %d", s.Opened)
	}

	// Open: refused until OpenDuration has passed.
	clk.Advance(5*time.Second - 1)
	if _, ok := b.Allow(); ok {
		t.Fatal("allowed while open")
	}
	clk.Advance(1)
	p1, ok := b.Allow()
	if !ok || !p1.Probe() {
		t.Fatalf("first call after OpenDuration: ok=%v probe=%v", ok, p1.Probe())
	}
	wantState(t, b, breaker.HalfOpen)
	p2, ok := b.Allow()
	if !ok || !p2.Probe() {
		t.Fatal("second probe refused")
	}
	if _, ok := b.Allow(); ok {
		t.Fatal("a third probe was allowed (HalfOpenProbes = 2)")
	}
	// One probe fails: open again, for a full OpenDuration; the other
	// probe's late success is ignored.
	b.Record(&p1, true)
	wantState(t, b, breaker.Open)
	b.Record(&p2, false)
	b.Release(&p2)
	wantState(t, b, breaker.Open)
	if s := b.Stats(); s.Opened != 2 || s.Refused != 2 {
		t.Fatalf("stats %+v", s)
	}

	clk.Advance(5 * time.Second)
	p1, _ = b.Allow()
	p2, _ = b.Allow()
	b.Record(&p1, false)
	wantState(t, b, breaker.HalfOpen)
	b.Record(&p2, false)
	wantState(t, b, breaker.Closed)
	// A closed breaker starts with an empty window.
	if s := b.Stats(); s.Calls != 0 || s.Failures != 0 {
		t.Fatalf("fresh window counts %+v", s)
	}
}

// TestWindow verifies that attempts leave the rate when they leave the
// window, and that successes dilute failures.
func TestWindow(t *testing.T) {
	b, clk := newTest(t, testCfg)
	call(b, true)
	call(b, true)
	clk.Advance(10 * time.Second) // both failures leave the window
	call(b, false)
	call(b, false)
	call(b, false)
	call(b, true) // 1 of 4
	wantState(t, b, breaker.Closed)
	call(b, true) // 2 of 5 = 40%
	wantState(t, b, breaker.Closed)
	call(b, true) // 3 of 6 = 50%
	wantState(t, b, breaker.Open)
}

// TestProbeRelease verifies that a probe that records no outcome gives its
// place back, and that a breaker whose probes never report starts a new
// half-open period after OpenDuration.
func TestProbeRelease(t *testing.T) {
	cfg := testCfg
	cfg.HalfOpenProbes = 1
	b, clk := newTest(t, cfg)
	for range 4 {
		call(b, true)
	}
	wantState(t, b, breaker.Open)
	clk.Advance(5 * time.Second)

	p, ok := b.Allow()
	if !ok {
		t.Fatal("probe refused")
	}
	if _, ok := b.Allow(); ok {
		t.Fatal("second probe allowed")
	}
	b.Release(&p) // the caller gave up: no outcome
	b.Release(&p) // idempotent
	p, ok = b.Allow()
	if !ok {
		t.Fatal("released place not given back")
	}
	// This probe leaks: it never reports.
	clk.Advance(5*time.Second - 1)
	if _, ok := b.Allow(); ok {
		t.Fatal("allowed while the probe runs")
	}
	clk.Advance(1)
	q, ok := b.Allow()
	if !ok || !q.Probe() {
		t.Fatal("a leaked probe kept the breaker half-open")
	}
	b.Record(&p, true) // the leaked probe's late failure belongs to an old period
	wantState(t, b, breaker.HalfOpen)
	b.Record(&q, false)
	wantState(t, b, breaker.Closed)
}

// TestLateOutcome verifies that an attempt admitted while closed and failing
// after the breaker opened changes nothing.
func TestLateOutcome(t *testing.T) {
	b, clk := newTest(t, testCfg)
	late, _ := b.Allow()
	for range 4 {
		call(b, true)
	}
	clk.Advance(5 * time.Second)
	p, _ := b.Allow()
	b.Record(&late, true)
	wantState(t, b, breaker.HalfOpen)
	b.Record(&p, false)
}

// TestConcurrentProbes verifies that goroutines racing for a half-open
// breaker get exactly HalfOpenProbes probes, and the others are refused.
func TestConcurrentProbes(t *testing.T) {
	cfg := testCfg
	cfg.HalfOpenProbes = 3
	b, clk := newTest(t, cfg)
	for range 4 {
		call(b, true)
	}
	clk.Advance(5 * time.Second)
	var probes, refused atomic.Int32
	var wg sync.WaitGroup
	start := make(chan struct{})
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			if tk, ok := b.Allow(); ok && tk.Probe() {
				probes.Add(1)
			} else if !ok {
				refused.Add(1)
			}
		}()
	}
	close(start)
	wg.Wait()
	if probes.Load() != 3 || refused.Load() != 13 {
		t.Fatalf("%d probes, %d refused; want 3 and 13", probes.Load(), refused.Load())
	}
}

// TestConcurrent hammers one breaker from many goroutines (run it with
// -race) while the clock moves: the state machine keeps cycling and ends in
// a consistent state.
func TestConcurrent(t *testing.T) {
	cfg := policy.Breaker{FailureRate: 50, MinCalls: 10, Window: time.Second, OpenDuration: time.Millisecond, HalfOpenProbes: 3}
	b, clk := newTest(t, cfg)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 3000 {
				if g == 0 && i%10 == 0 {
					clk.Advance(time.Millisecond)
				}
				tk, ok := b.Allow()
				if !ok {
					continue
				}
				if (i+g)%3 != 0 { // else: no outcome
					b.Record(&tk, (i+g)%3 == 1)
				}
				b.Release(&tk)
			}
		}()
	}
	wg.Wait()
	s := b.Stats()
	if s.Opened < 2 || s.Refused == 0 {
		t.Fatalf("the breaker did not cycle: %+v", s)
	}
	// Quiet now: after OpenDuration, successful probes close it.
	clk.Advance(time.Second)
	for range 3 {
		call(b, false)
	}
	wantState(t, b, breaker.Closed)
}

// TestSuccessPathAllocs verifies that a closed breaker's Allow, Record and
// Release do not allocate.
func TestSuccessPathAllocs(t *testing.T) {
	b, _ := newTest(t, testCfg)
	if n := testing.AllocsPerRun(1000, func() { call(b, false) }); n != 0 {
		t.Fatalf("%v allocations per call", n)
	}
}

// TestLongClosed verifies that a breaker closed for years with the shortest
// window still counts and opens.
func TestLongClosed(t *testing.T) {
	cfg := testCfg
	cfg.Window = 10 * time.Millisecond
	b, clk := newTest(t, cfg)
	clk.Advance(20 * 365 * 24 * time.Hour)
	for range 4 {
		call(b, true)
	}
	wantState(t, b, breaker.Open)
}
