package scheduler

import (
	"context"
	"slices"
	"sync"
	"time"
)

// FakeClock is a manual Clock for tests: time stands still until Advance
// moves it, and Advance fires the timers that come due. It is exported so
// that code built on a Scheduler can be tested the same way.
//
// A timer's channel has a buffer of one and receives the timer's deadline;
// Advance never blocks on it. Stop and Reset empty the buffer, so no stale
// value is received after they return (the Go 1.23 time.Timer contract).
//
// The zero FakeClock is usable and starts at the zero time; NewFakeClock
// picks the start. All methods are safe for concurrent use.
type FakeClock struct {
	mu      sync.Mutex // guards the fields below and every fakeTimer's when/armed
	now     time.Time
	armed   []*fakeTimer
	changed chan struct{} // closed and replaced whenever len(armed) changes
}

// NewFakeClock returns a FakeClock whose time is start.
func NewFakeClock(start time.Time) *FakeClock { return &FakeClock{now: start} }

// Now returns the clock's current time.
func (c *FakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// NewTimer returns a Timer that fires when Advance reaches now+d. A d <= 0
// fires at once.
func (c *FakeClock) NewTimer(d time.Duration) Timer {
	t := &fakeTimer{c: c, ch: make(chan time.Time, 1)}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.arm(t, d)
	return t
}

// Advance moves the clock forward by d (a negative d is ignored) and fires,
// in deadline order, every armed timer due by the new time.
func (c *FakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if d > 0 {
		c.now = c.now.Add(d)
	}
	var due []*fakeTimer
	keep := c.armed[:0]
	for _, t := range c.armed {
		if t.when.After(c.now) {
			keep = append(keep, t)
		} else {
			due = append(due, t)
		}
	}
	clear(c.armed[len(keep):])
	c.armed = keep
	slices.SortStableFunc(due, func(a, b *fakeTimer) int { return a.when.Compare(b.when) })
	for _, t := range due {
		t.armed = false
		t.send(t.when)
	}
	if len(due) > 0 {
		c.notify()
	}
}

// Timers returns how many timers are armed: created or reset, and neither
// fired nor stopped since.
func (c *FakeClock) Timers() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.armed)
}

// BlockUntilTimers waits until at least n timers are armed, or ctx is done
// (returning ctx.Err()). It waits on a channel, not by polling, so it also
// works inside a testing/synctest bubble.
func (c *FakeClock) BlockUntilTimers(ctx context.Context, n int) error {
	for {
		c.mu.Lock()
		if len(c.armed) >= n {
			c.mu.Unlock()
			return nil
		}
		if c.changed == nil {
			c.changed = make(chan struct{})
		}
		ch := c.changed
		c.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// arm sets t to fire after d. c.mu must be held and t must be disarmed.
func (c *FakeClock) arm(t *fakeTimer, d time.Duration) {
	t.when = c.now.Add(d)
	if d <= 0 {
		t.send(t.when)
		return
	}
	t.armed = true
	c.armed = append(c.armed, t)
	c.notify()
}

// disarm removes t from the armed set and empties its buffer; it reports
// whether t was armed. c.mu must be held.
func (c *FakeClock) disarm(t *fakeTimer) bool {
	select {
	case <-t.ch:
	default:
	}
	if !t.armed {
		return false
	}
	t.armed = false
	if i := slices.Index(c.armed, t); i >= 0 {
		c.armed = slices.Delete(c.armed, i, i+1)
	}
	c.notify()
	return true
}

// notify wakes BlockUntilTimers waiters. c.mu must be held.
func (c *FakeClock) notify() {
	if c.changed != nil {
		close(c.changed)
		c.changed = nil
	}
}

type fakeTimer struct {
	c     *FakeClock
	ch    chan time.Time
	when  time.Time // guarded by c.mu
	armed bool      // guarded by c.mu
}

func (t *fakeTimer) C() <-chan time.Time { return t.ch }

func (t *fakeTimer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	return t.c.disarm(t)
}

func (t *fakeTimer) Reset(d time.Duration) bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	was := t.c.disarm(t)
	t.c.arm(t, d)
	return was
}

// send delivers v without blocking; the buffer is empty whenever the timer
// is armed, so nothing is dropped in practice.
func (t *fakeTimer) send(v time.Time) {
	select {
	case t.ch <- v:
	default:
	}
}
