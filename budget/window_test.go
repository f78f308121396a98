package budget

import (
	"sync"
	"testing"
	"time"
)

// TestWindowStalledWriterIsNotLost verifies that a writer still holding an
// epoch a whole window old counts into the newer bucket that now owns its
// slot, instead of resetting it.
func TestWindowStalledWriterIsNotLost(t *testing.T) {
	clk := new(fakeClock)
	var w window
	w.init(clk.Now, nil, time.Second) // 100ms buckets
	old := w.epoch()
	clk.Advance(time.Second) // same slot, next lap
	e := w.epoch()
	if e != old+numBuckets {
		t.Fatalf("epoch %d, want %d", e, old+numBuckets)
	}
	w.add(deposits, e)
	w.add(deposits, old) // the stalled writer
	if got := w.sum(deposits, e); got != 2 {
		t.Fatalf("sum = %d, want 2 (the late event counted, not lost)", got)
	}
}

// TestWindowSaturates verifies that a full bucket stops counting instead of
// overflowing into its lap, and that a Ratio denies rather than grant past a
// saturated withdrawal count.
func TestWindowSaturates(t *testing.T) {
	clk := new(fakeClock)
	r := mustRatio(t, RatioConfig{Percent: 1000, MinPerSecond: 1e6, Window: time.Second, Now: clk.Now})
	e := r.own.epoch()
	lap := e / numBuckets
	r.own.slots[e%numBuckets].c[deposits].Store(pack(lap, countMask-1))
	r.own.add(deposits, e)
	r.own.add(deposits, e)
	if got := r.own.slots[e%numBuckets].c[deposits].Load(); got != pack(lap, countMask) {
		t.Fatalf("word %#x, want lap %d with a saturated count", got, lap)
	}
	r.own.slots[e%numBuckets].c[withdrawals].Store(pack(lap, countMask))
	if r.TryAcquire() {
		t.Fatal("granted past a saturated withdrawal count")
	}
}

// TestWindowConcurrentAddsAcrossLaps verifies, under -race, that adds racing
// with bucket resets are neither lost nor double counted: every add made in
// the current lap is in the sum.
func TestWindowConcurrentAddsAcrossLaps(t *testing.T) {
	clk := new(fakeClock)
	var w window
	w.init(clk.Now, nil, time.Second)
	for lap := range 50 {
		clk.Set(time.Duration(lap) * time.Second) // bucket 0 of a new lap: every slot is stale
		var wg sync.WaitGroup
		e := w.epoch()
		for range 8 {
			wg.Go(func() {
				for range 100 {
					w.add(deposits, e)
				}
			})
		}
		wg.Wait()
		if got := w.sum(deposits, e); got != 800 {
			t.Fatalf("lap %d: sum = %d, want 800", lap, got)
		}
	}
}

// TestRatioStalledAcquireCatchesUp verifies that a TryAcquire holding an
// epoch a whole window old, finding its withdrawal slot in a newer lap,
// re-reads the clock and decides in the current window instead.
func TestRatioStalledAcquireCatchesUp(t *testing.T) {
	clk := new(fakeClock)
	r := mustRatio(t, RatioConfig{MinPerSecond: 2, Window: time.Second, Now: clk.Now}) // 2 per window
	old := r.own.epoch()
	clk.Advance(time.Second) // same slot, next lap
	if !r.TryAcquire() {
		t.Fatal("denied the first retry of a window")
	}
	if !r.tryAcquire(old) { // the stalled caller: the second of 2
		t.Fatal("stalled caller denied with one retry left")
	}
	if r.TryAcquire() {
		t.Fatal("granted a third retry in a 2-per-window budget")
	}
	if s := r.Stats(); s.Withdrawals != 2 {
		t.Fatalf("Stats = %+v; want both withdrawals in the current window", s)
	}
}
