package main

// Virtual time for rego sim: a scheduler.Clock whose time moves only when the
// simulation's driver moves it, so that a trace of 100k calls replays through
// the real engine in seconds instead of in the trace's own time.
//
// The engine reads every clock, timer and deadline through the Clock it is
// given (engine.WithClock), so the engine's code runs unchanged: the attempt
// loop, the timer wheel, the budgets and the latency trackers all see virtual
// time. The only thing the driver must know is when every goroutine of the
// simulation has done all it can at the current instant, so that moving time
// forward cannot overtake work still due "now". testing/synctest answers that
// question exactly, but only inside a test. The driver answers it with one
// processor and a settle loop:
//
//   - While a simulation runs, GOMAXPROCS is 1. A goroutine woken by a timer
//     or a channel goes on the one processor's local run queue; the driver
//     yields with runtime.Gosched, which puts it on the global run queue,
//     behind everything runnable.
//   - Every Clock method and every simulated attempt bumps an activity
//     counter. The driver yields until the counter has not moved for
//     settleRounds yields in a row: then no goroutine is runnable, and every
//     one is parked on a channel (a timer of this clock, a mailbox, a hedge's
//     result) or a finished call.
//   - Then it moves time to the earliest armed timer and fires every timer
//     due at that instant, in the order they were armed.
//
// The settle loop is a heuristic, not a proof: a goroutine preempted in the
// middle of its work lands on the global run queue and could in principle be
// overtaken. The effect would be a timer armed a little late in virtual time,
// not a lost event. The tests compare the simulation with a live run to
// bound what that, and everything else, costs in accuracy.

import (
	"container/heap"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/regoresilience/rego/scheduler"
)

// simEpoch is where virtual time starts: fixed, so runs are reproducible.
var simEpoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// settleRounds is how many yields in a row must see no activity before the
// driver believes every goroutine is parked.
const settleRounds = 3

// simClock is a virtual scheduler.Clock. The driver goroutine owns the passage
// of time (advance); any goroutine may read it or arm timers.
type simClock struct {
	activity atomic.Uint64 // bumped by every method: the settle loop's signal

	mu     sync.Mutex // guards now, timers, seq and every simTimer's index/when
	now    time.Time
	timers timerHeap
	seq    uint64 // arming order, to fire simultaneous timers in a stable order
}

func newSimClock() *simClock { return &simClock{now: simEpoch} }

// Now returns the virtual time.
func (c *simClock) Now() time.Time {
	c.activity.Add(1)
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// PollCoarse lets the timer wheel poll for coarse timers (hedge triggers) as
// it does on the system clock: the settle loop lets it take them before time
// moves, so they fire when they would in production.
func (c *simClock) PollCoarse() bool { return true }

// NewTimer returns a timer that fires when virtual time reaches now+d.
func (c *simClock) NewTimer(d time.Duration) scheduler.Timer {
	c.activity.Add(1)
	t := &simTimer{c: c, ch: make(chan time.Time, 1), index: -1}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.arm(t, d)
	return t
}

// elapsed returns the virtual time since the epoch.
func (c *simClock) elapsed() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now.Sub(simEpoch)
}

// arm schedules t at now+d; c.mu must be held and t disarmed.
func (c *simClock) arm(t *simTimer, d time.Duration) {
	t.when = c.now.Add(d)
	if d <= 0 {
		t.send(c.now)
		return
	}
	c.seq++
	t.seq = c.seq
	heap.Push(&c.timers, t)
}

// disarm removes t and drains its buffer; c.mu must be held.
func (c *simClock) disarm(t *simTimer) bool {
	select {
	case <-t.ch:
	default:
	}
	if t.index < 0 {
		return false
	}
	heap.Remove(&c.timers, t.index)
	return true
}

// advance moves time to the earliest armed timer and fires every timer due
// then. It reports false when no timer is armed.
func (c *simClock) advance() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.timers) == 0 {
		return false
	}
	c.now = c.timers[0].when
	for len(c.timers) > 0 && !c.timers[0].when.After(c.now) {
		t := heap.Pop(&c.timers).(*simTimer)
		t.send(c.now)
	}
	c.activity.Add(1)
	return true
}

// settle yields the processor until no goroutine has touched the clock (or
// reported an attempt) for settleRounds yields in a row. It must run with
// GOMAXPROCS(1); see the file comment.
func (c *simClock) settle() {
	for stable := 0; stable < settleRounds; {
		before := c.activity.Load()
		runtime.Gosched()
		if c.activity.Load() == before {
			stable++
		} else {
			stable = 0
		}
	}
}

// simTimer is a timer of a simClock.
type simTimer struct {
	c     *simClock
	ch    chan time.Time
	when  time.Time // guarded by c.mu
	seq   uint64    // guarded by c.mu
	index int       // guarded by c.mu; position in c.timers, -1 when disarmed
}

func (t *simTimer) C() <-chan time.Time { return t.ch }

func (t *simTimer) Stop() bool {
	t.c.activity.Add(1)
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	return t.c.disarm(t)
}

func (t *simTimer) Reset(d time.Duration) bool {
	t.c.activity.Add(1)
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	was := t.c.disarm(t)
	t.c.arm(t, d)
	return was
}

// send delivers v without blocking: the buffer is empty whenever the timer is
// armed.
func (t *simTimer) send(v time.Time) {
	select {
	case t.ch <- v:
	default:
	}
}

// timerHeap orders armed timers by deadline, then by arming order.
type timerHeap []*simTimer

func (h timerHeap) Len() int { return len(h) }
func (h timerHeap) Less(i, j int) bool {
	if c := h[i].when.Compare(h[j].when); c != 0 {
		return c < 0
	}
	return h[i].seq < h[j].seq
}
func (h timerHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}
func (h *timerHeap) Push(x any) {
	t := x.(*simTimer)
	t.index = len(*h)
	*h = append(*h, t)
}
func (h *timerHeap) Pop() any {
	old := *h
	t := old[len(old)-1]
	old[len(old)-1] = nil
	t.index = -1
	*h = old[:len(old)-1]
	return t
}
