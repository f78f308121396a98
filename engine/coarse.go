package engine

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/regoresilience/rego/scheduler"
)

// coarseResolution is how stale the budgets' clock may be. Budget windows
// count in buckets of a second or more, so 10ms is far below what they resolve.
const coarseResolution = 10 * time.Millisecond

// coarseClock is the clock the key budgets read on every call. Reading the
// system clock costs 20-100ns (more than the rest of a fast call on some
// virtual machines), so while calls keep reading it a refresher goroutine
// stores the time every coarseResolution, and call sites load it atomically.
// When a whole period passes without a read, the refresher marks the time
// stale and parks (no idle ticking); the next read takes the real clock and
// wakes it.
//
// Ownership: nanos and used are shared atomics; the refresher goroutine is
// owned by the engine and ends on close.
type coarseClock struct {
	clock scheduler.Clock
	nanos atomic.Int64 // Unix nanoseconds of the last refresh; 0 = stale
	used  atomic.Bool  // read since the refresher's last tick
	wake  chan struct{}
	stop  chan struct{}
	done  sync.WaitGroup
}

func newCoarseClock(c scheduler.Clock) *coarseClock {
	cc := &coarseClock{clock: c, wake: make(chan struct{}, 1), stop: make(chan struct{})}
	cc.done.Add(1)
	go cc.refresh()
	return cc
}

// Now returns the time, at most about coarseResolution old.
func (c *coarseClock) Now() time.Time { return time.Unix(0, c.UnixNanos()) }

// UnixNanos is Now as Unix nanoseconds: the budgets' hot path reads this,
// which is one atomic load while the refresher runs.
func (c *coarseClock) UnixNanos() int64 {
	if n := c.nanos.Load(); n != 0 {
		if !c.used.Load() {
			c.used.Store(true)
		}
		return n
	}
	n := c.clock.Now().UnixNano()
	if c.nanos.CompareAndSwap(0, n) {
		select {
		case c.wake <- struct{}{}:
		default:
		}
	}
	return n
}

func (c *coarseClock) refresh() {
	defer c.done.Done()
	for {
		select {
		case <-c.wake:
		case <-c.stop:
			return
		}
		for {
			t := c.clock.NewTimer(coarseResolution)
			select {
			case <-t.C():
			case <-c.stop:
				t.Stop()
				return
			}
			if !c.used.Swap(false) {
				c.nanos.Store(0) // unused for a whole period: park
				break
			}
			c.nanos.Store(c.clock.Now().UnixNano())
		}
	}
}

func (c *coarseClock) close() {
	close(c.stop)
	c.done.Wait()
}
