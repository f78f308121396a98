package scheduler_test

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/regoresilience/rego/scheduler"
)

func recv(c <-chan time.Time) (time.Time, bool) {
	select {
	case v := <-c:
		return v, true
	default:
		return time.Time{}, false
	}
}

// TestFakeClockTimer verifies FakeClock timers fire on Advance (with their
// deadline, in deadline order), that d <= 0 fires at once, and the
// Stop/Reset contract: results, and no stale value after they return.
func TestFakeClockTimer(t *testing.T) {
	c := scheduler.NewFakeClock(epoch)
	a := c.NewTimer(2 * time.Second)
	b := c.NewTimer(time.Second)
	if c.Timers() != 2 {
		t.Fatalf("Timers() = %d", c.Timers())
	}
	c.Advance(time.Second - 1)
	if _, ok := recv(b.C()); ok {
		t.Fatal("fired early")
	}
	c.Advance(5 * time.Second)
	if v, ok := recv(b.C()); !ok || !v.Equal(epoch.Add(time.Second)) {
		t.Fatalf("b: %v %v", v, ok)
	}
	if v, ok := recv(a.C()); !ok || !v.Equal(epoch.Add(2*time.Second)) {
		t.Fatalf("a: %v %v", v, ok)
	}
	if c.Timers() != 0 || a.Stop() {
		t.Fatal("fired timer still armed")
	}

	now := c.NewTimer(0)
	if _, ok := recv(now.C()); !ok || c.Timers() != 0 {
		t.Fatal("NewTimer(0) did not fire at once")
	}

	s := c.NewTimer(time.Second)
	if !s.Stop() || s.Stop() || c.Timers() != 0 {
		t.Fatal("Stop results wrong")
	}
	c.Advance(time.Hour)
	if _, ok := recv(s.C()); ok {
		t.Fatal("stopped timer fired")
	}

	r := c.NewTimer(time.Second)
	c.Advance(time.Second) // fired, value not received
	if r.Reset(time.Minute) {
		t.Fatal("Reset of a fired timer reported armed")
	}
	if _, ok := recv(r.C()); ok {
		t.Fatal("stale value after Reset")
	}
	if !r.Reset(time.Second) {
		t.Fatal("Reset of an armed timer reported not armed")
	}
	c.Advance(time.Second)
	if _, ok := recv(r.C()); !ok {
		t.Fatal("reset timer did not fire")
	}
	before := c.Now()
	c.Advance(-time.Hour)
	if !c.Now().Equal(before) {
		t.Fatalf("negative Advance moved the clock: %v", c.Now())
	}
}

// TestFakeClockZeroValue verifies the zero FakeClock works from the zero time.
func TestFakeClockZeroValue(t *testing.T) {
	var c scheduler.FakeClock
	tm := c.NewTimer(time.Second)
	c.Advance(time.Second)
	if v, ok := recv(tm.C()); !ok || !v.Equal(time.Time{}.Add(time.Second)) {
		t.Fatalf("%v %v", v, ok)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := c.BlockUntilTimers(ctx, 1); !errors.Is(err, context.Canceled) {
		t.Fatalf("BlockUntilTimers = %v", err)
	}
}

// TestFakeClockBlockUntilTimers verifies BlockUntilTimers returns as soon as
// enough timers are armed, waits (durably, inside a bubble) until then, and
// gives up with ctx.
func TestFakeClockBlockUntilTimers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := scheduler.NewFakeClock(epoch)
		if err := c.BlockUntilTimers(context.Background(), 0); err != nil {
			t.Fatal(err)
		}
		done := make(chan error)
		go func() { done <- c.BlockUntilTimers(context.Background(), 2) }()
		c.NewTimer(time.Second)
		synctest.Wait()
		select {
		case <-done:
			t.Fatal("returned with one timer armed")
		default:
		}
		c.NewTimer(time.Second)
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := c.BlockUntilTimers(ctx, 3); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("BlockUntilTimers = %v", err)
		}
	})
}
