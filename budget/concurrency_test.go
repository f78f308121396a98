package budget

import (
	"errors"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// TestNewConcurrencyRejectsBadConfig verifies that Max < 1 is refused.
func TestNewConcurrencyRejectsBadConfig(t *testing.T) {
	for _, m := range []int{0, -1} {
		c, err := NewConcurrency(ConcurrencyConfig{Max: m})
		var ce *ConfigError
		if c != nil || !errors.Is(err, ErrInvalidConfig) || !errors.As(err, &ce) ||
			ce.Field != "Max" || !strings.Contains(err.Error(), "budget: concurrency: Max: must be >= 1") {
			t.Errorf("NewConcurrency(Max: %d) = %v, %v", m, c, err)
		}
	}
}

// TestConcurrencyLimit verifies the Envoy shape: Max permits, given back by
// Release; an unmatched Release is a counted no-op.
func TestConcurrencyLimit(t *testing.T) {
	c, err := NewConcurrency(ConcurrencyConfig{Max: 2})
	if err != nil {
		t.Fatal(err)
	}
	c.Release() // nothing in flight: ignored
	if !c.TryAcquire() || !c.TryAcquire() {
		t.Fatal("denied a permit below Max")
	}
	c.Record(false, false) // ignored
	if c.TryAcquire() {
		t.Fatal("granted a third permit with Max 2")
	}
	c.Release()
	if !c.TryAcquire() {
		t.Fatal("denied a permit after a Release")
	}
	c.Release()
	c.Release()
	c.Release() // one too many
	want := ConcurrencyStats{Acquired: 3, Denied: 1, Released: 3, Unmatched: 2, InFlight: 0, Max: 2}
	if s := c.Stats(); s != want {
		t.Fatalf("Stats = %+v, want %+v", s, want)
	}
}

// TestConcurrencyConservationStress verifies, under -race, that with many
// goroutines acquiring and releasing, no more than Max permits are ever held
// and every permit acquired is released.
func TestConcurrencyConservationStress(t *testing.T) {
	const max, goroutines, rounds = 3, 32, 2000
	c, err := NewConcurrency(ConcurrencyConfig{Max: max})
	if err != nil {
		t.Fatal(err)
	}
	var holders, peak, granted atomic.Int64
	var wg sync.WaitGroup
	for range goroutines {
		wg.Go(func() {
			for i := range rounds {
				if !c.TryAcquire() {
					continue
				}
				granted.Add(1)
				h := holders.Add(1)
				for p := peak.Load(); h > p && !peak.CompareAndSwap(p, h); p = peak.Load() {
				}
				if n := c.Stats().InFlight; n < 1 || n > max {
					t.Errorf("in flight %d while holding a permit, want 1..%d", n, max)
				}
				if i%16 == 0 {
					runtime.Gosched() // hold the permit across a reschedule
				}
				holders.Add(-1)
				c.Release()
			}
		})
	}
	wg.Wait()
	s := c.Stats()
	t.Logf("Stats %+v, peak holders %d", s, peak.Load())
	if s.InFlight != 0 || s.Acquired != s.Released || s.Unmatched != 0 || s.Acquired != uint64(granted.Load()) {
		t.Fatalf("not conserved: %+v (granted %d)", s, granted.Load())
	}
	if p := peak.Load(); p > max {
		t.Fatalf("%d permits held at once, Max %d", p, max)
	}
	if s.Acquired+s.Denied != goroutines*rounds {
		t.Fatalf("%d decisions, want %d", s.Acquired+s.Denied, goroutines*rounds)
	}
}

// TestConcurrencyExtraReleasesStress verifies that stray Releases racing with
// real ones never push the count below zero or above Max.
func TestConcurrencyExtraReleasesStress(t *testing.T) {
	const max = 4
	c, err := NewConcurrency(ConcurrencyConfig{Max: max})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Go(func() {
			for range 2000 {
				if g%4 == 0 {
					c.Release() // a buggy caller
				} else if c.TryAcquire() {
					c.Release()
				}
				if n := c.Stats().InFlight; n < 0 || n > max {
					t.Errorf("in flight %d, want 0..%d", n, max)
				}
			}
		})
	}
	wg.Wait()
	s := c.Stats()
	if s.InFlight != 0 || s.Released+s.Unmatched != s.Acquired+4*2000 {
		t.Fatalf("Stats %+v: releases do not add up", s)
	}
}
