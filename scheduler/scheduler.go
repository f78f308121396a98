package scheduler

import (
	"errors"
	"fmt"
	"math"
	"sync/atomic"
	"time"
)

// Task is the work a Scheduler runs when a timer fires. Run is called on the
// wheel goroutine, so it must be short and must never block: close a
// channel, flip an atomic, make a non-blocking send, or hand the work to
// another goroutine. A pointer type implementing Task is scheduled without
// allocating.
//
// A panicking Run crashes the program, as a panic in a time.AfterFunc
// function does.
type Task interface{ Run() }

// funcTask adapts a func to Task. A func value is pointer-shaped, so
// converting one to Task does not allocate.
type funcTask func()

func (f funcTask) Run() { f() }

// Errors returned by New and TrySchedule.
var (
	// ErrClosed is returned by TrySchedule after Close.
	ErrClosed = errors.New("scheduler: closed")
	// ErrNilTask is returned by TrySchedule for a nil Task or func.
	ErrNilTask = errors.New("scheduler: nil task")
	// ErrInvalidOption wraps every error New reports for a bad Option.
	ErrInvalidOption = errors.New("scheduler: invalid option")
)

// DefaultTick is the tick used when WithTick is not given.
const DefaultTick = time.Millisecond

// maxDelay caps delays, and the elapsed time the scheduler tracks, so that
// tick arithmetic cannot overflow: elapsed + delay + tick stays below 2^63.
// About 73 years; a timer that far out never fires in practice.
const maxDelay = time.Duration(1 << 61)

// noTarget is the wake target published while the wheel sleeps with
// nothing filed: any new timer is earlier and wakes it.
const noTarget = math.MaxInt64

// wakeBatch bounds how many nodes wait in the mailbox for a sleeping wheel:
// on average every wakeBatch-th push wakes it even when its target is
// earlier, so stopped nodes return to the pools (which then do not run dry)
// while the wheel sleeps towards a far deadline. Power of two.
const wakeBatch = 256

type config struct {
	tick  time.Duration
	clock Clock
}

// Option configures New. Options are applied in order; a nil Option is
// ignored.
type Option func(*config) error

// MaxTick is the largest tick WithTick accepts.
const MaxTick = 24 * time.Hour

// WithTick sets the wheel's resolution. Deadlines are rounded up to a whole
// tick, and timers fire at most about one tick late. d must be in
// (0, MaxTick].
func WithTick(d time.Duration) Option {
	return func(c *config) error {
		if d <= 0 || d > MaxTick {
			return fmt.Errorf("%w: tick %v must be in (0, %v]", ErrInvalidOption, d, MaxTick)
		}
		c.tick = d
		return nil
	}
}

// WithClock sets the clock the scheduler reads and sleeps on (default
// SystemClock). Tests pass a *FakeClock. c must not be nil.
func WithClock(c Clock) Option {
	return func(cfg *config) error {
		if c == nil {
			return fmt.Errorf("%w: nil clock", ErrInvalidOption)
		}
		cfg.clock = c
		return nil
	}
}

// cacheLinePad keeps the hot shared words on cache lines of their own. 128
// bytes rather than 64 because adjacent-line prefetching pairs lines on
// common x86 parts.
type cacheLinePad [128]byte

// Scheduler is a shared hierarchical timer wheel: many goroutines schedule
// and cancel short tasks on it cheaply, and one goroutine (the wheel
// goroutine, started by New) runs them when due. Every method is safe for
// concurrent use. See the package documentation for the model.
//
// Create one with New; a nil or zero Scheduler acts as a closed one.
type Scheduler struct {
	_ cacheLinePad
	// head is the mailbox: a Treiber stack of nodes pushed by call sites
	// and swapped out whole by the wheel goroutine.
	head atomic.Pointer[node]
	_    cacheLinePad
	// target is the tick by which the wheel goroutine will next look at the
	// mailbox: 0 while it is awake (it re-checks the mailbox before it
	// sleeps), its wake-up tick while it sleeps, noTarget when it sleeps
	// with nothing filed. Call sites lower it (compare-and-swap) and wake
	// the wheel when their deadline is earlier.
	target atomic.Int64
	// polling is true while the wheel goroutine looks at the mailbox at
	// every tick (see step): call sites may then schedule without reading
	// the clock. Only with the system clock.
	polling atomic.Bool
	_       cacheLinePad

	// Set by New, read-only afterwards.
	clock  Clock
	system bool // clock is SystemClock: read elapsed time with time.Since
	// poll: the wheel may poll for coarse nodes (see step). True on
	// SystemClock and on a PollingClock that asks for it.
	poll bool
	// noBatch: a PollingClock other than SystemClock, whose wheel must take
	// nodes only at instants its driver can reproduce: no batch wake-ups
	// (see batchWake), which would take coarse nodes at random pushes.
	noBatch bool
	start   time.Time
	tick    time.Duration
	wake    chan struct{} // capacity 1: a pending wake-up is never lost, extra ones coalesce
	done    chan struct{} // closed by Close
	// runOnClose is set by Shutdown before done is closed: the wheel
	// goroutine then runs what is pending instead of dropping it.
	runOnClose atomic.Bool
	exited     chan struct{} // closed by the wheel goroutine when it returns

	closed atomic.Bool

	// The padding keeps the wheel goroutine's writes to w off the cache
	// line that every Schedule reads the fields above from.
	_ cacheLinePad
	// w is owned by the wheel goroutine.
	w wheel
	// coarseAt is the last tick the wheel goroutine took a node scheduled
	// by ScheduleCoarseNode; it polls until a tick passes without one. Owned by
	// the wheel goroutine.
	coarseAt int64
	// beforePublish, if set, runs in step just before the wake target is
	// published: a white-box test hook (set only from export_test.go) to
	// push while the wheel reads as awake.
	beforePublish func()
}

// New returns a Scheduler and starts its wheel goroutine. Call Close to stop
// it. The only errors are invalid options (errors.Is(err,
// ErrInvalidOption)).
func New(opts ...Option) (*Scheduler, error) {
	s, err := newScheduler(opts...)
	if err != nil {
		return nil, err
	}
	go s.run()
	return s, nil
}

func newScheduler(opts ...Option) (*Scheduler, error) {
	cfg := config{tick: DefaultTick, clock: SystemClock()}
	for _, o := range opts {
		if o == nil {
			continue
		}
		if err := o(&cfg); err != nil {
			return nil, err
		}
	}
	_, system := cfg.clock.(systemClock)
	poll := system
	if pc, ok := cfg.clock.(PollingClock); ok && !system {
		poll = pc.PollCoarse()
	}
	s := &Scheduler{
		clock:   cfg.clock,
		system:  system,
		poll:    poll,
		noBatch: poll && !system,
		start:   cfg.clock.Now(),
		tick:    cfg.tick,
		wake:    make(chan struct{}, 1),
		done:    make(chan struct{}),
		exited:  make(chan struct{}),
	}
	s.target.Store(noTarget)
	s.w.stoppedDue = noTarget
	s.coarseAt = math.MinInt64 / 2 // long ago, without overflowing now - coarseAt
	return s, nil
}

// Now returns the scheduler clock's current time (time.Now for a nil or
// zero Scheduler).
func (s *Scheduler) Now() time.Time {
	if s == nil || s.clock == nil {
		return time.Now()
	}
	return s.clock.Now()
}

// Tick returns the wheel's resolution (0 for a nil or zero Scheduler).
func (s *Scheduler) Tick() time.Duration {
	if s == nil {
		return 0
	}
	return s.tick
}

// Schedule runs t on the wheel goroutine once d has elapsed, and returns a
// Handle that can stop it. The deadline is rounded up to a tick boundary and
// is never earlier than the next one, so a d below one tick (zero and
// negative included) fires on the next tick. t never runs before d has
// elapsed, and runs at most about one tick late unless the machine is
// overloaded. It does not allocate in steady state.
//
// After Close, or for a nil t, Schedule returns the zero Handle and t never
// runs; TrySchedule says which.
func (s *Scheduler) Schedule(d time.Duration, t Task) Handle {
	h, _ := s.TrySchedule(d, t)
	return h
}

// TrySchedule is Schedule with an error: ErrClosed after Close, ErrNilTask
// for a nil t. A TrySchedule racing with Close may return a Handle whose
// task never runs.
func (s *Scheduler) TrySchedule(d time.Duration, t Task) (Handle, error) {
	if err := s.check(t); err != nil {
		return Handle{}, err
	}
	return s.push(s.dueAfter(s.elapsed(), d), t), nil
}

// tryScheduleCoarse is ScheduleCoarseNode on a pooled node, with
// TrySchedule's errors. Only the tests use it: they check the coarse
// timing on both kinds of node.
func (s *Scheduler) tryScheduleCoarse(d time.Duration, t Task) (Handle, error) {
	if err := s.check(t); err != nil {
		return Handle{}, err
	}
	n, gen := getNode()
	return s.scheduleCoarse(n, gen, d, t), nil
}

// ScheduleCoarseNode is Schedule for timers whose cost matters more than
// their precision (rego's hedge triggers), on a node the caller owns: d may
// be counted from up to about one tick after the call, so t runs at most
// about two ticks late instead of one, and never before d has elapsed. In
// exchange, while the Scheduler is busy with coarse timers (one was
// scheduled within about the last tick) it does not read the clock, the
// largest part of Schedule's cost, and the node (see TimerNode) costs no
// allocation and no trip through the shared pools. Only a Scheduler on
// SystemClock (or a PollingClock that asks for it) skips the clock read:
// on any other Clock (WithClock) the
// deadline is computed at the call, as Schedule computes it, so t runs at
// the first tick boundary at or after the call plus d, which is the same
// instant as on SystemClock or up to one tick earlier. Stop the task
// with o.Stop or the returned Handle. It panics if o was scheduled before.
// After Close, or for a nil t, it returns the zero Handle, leaves o
// unscheduled and t never runs. A call racing with Close may leave o
// scheduled with a t that never runs, as TrySchedule may.
func (s *Scheduler) ScheduleCoarseNode(o *TimerNode, d time.Duration, t Task) Handle {
	if s.check(t) != nil {
		return Handle{}
	}
	n := &o.n
	if !n.state.CompareAndSwap(stateFree, nodeGen<<genShift|statePending) {
		panic("scheduler: TimerNode scheduled twice")
	}
	n.owned = true
	return s.scheduleCoarse(n, nodeGen, d, t)
}

// scheduleCoarse publishes n, claimed with generation gen, to run t once d
// has elapsed. While the wheel goroutine polls (it looks at the mailbox at
// every tick), the node goes in relative: it carries d, and the wheel
// counts d from when it takes the node, which is after this call and at
// most about a tick later. Otherwise (always, on a clock that does not
// poll: see step) the deadline is computed here, from the clock, as
// Schedule does.
func (s *Scheduler) scheduleCoarse(n *node, gen uint64, d time.Duration, t Task) Handle {
	n.coarse = true
	if s.polling.Load() {
		return s.enqueueAfter(n, gen, d, t)
	}
	return s.enqueue(n, gen, s.dueAfter(s.elapsed(), d), t)
}

// dueAfter returns the tick a task scheduled at elapsed time now with delay
// d is due at: ceil((now+d)/tick), but at least floor(now/tick)+1. For
// d > 0 the first is always the larger, and for d <= 0 the second is: one
// division either way (a 64-bit division is a visible share of Schedule's
// cost). now and d are at most maxDelay and tick at most MaxTick, so the
// sum cannot overflow.
func (s *Scheduler) dueAfter(now, d time.Duration) int64 {
	if d <= 0 {
		return int64(now/s.tick + 1)
	}
	return int64((now + min(d, maxDelay) + s.tick - 1) / s.tick)
}

// ScheduleAt is Schedule with an absolute deadline: t runs at the first
// tick boundary at or after at, and never before the next tick.
func (s *Scheduler) ScheduleAt(at time.Time, t Task) Handle {
	h, _ := s.tryScheduleAt(at, t)
	return h
}

// tryScheduleAt is ScheduleAt with TrySchedule's errors.
func (s *Scheduler) tryScheduleAt(at time.Time, t Task) (Handle, error) {
	if err := s.check(t); err != nil {
		return Handle{}, err
	}
	nowTick := int64(s.elapsed()/s.tick) + 1
	e := min(at.Sub(s.start), maxDelay)
	due := int64(e / s.tick)
	if e%s.tick > 0 {
		due++
	}
	return s.push(max(due, nowTick), t), nil
}

// AfterFunc schedules f like Schedule. It does not allocate in steady state
// (a func value converts to Task for free). f runs on the wheel goroutine
// and must not block.
func (s *Scheduler) AfterFunc(d time.Duration, f func()) Handle {
	if f == nil {
		return Handle{}
	}
	return s.Schedule(d, funcTask(f))
}

// Close stops the wheel goroutine and waits for it to exit. Pending tasks
// never run (the first Stop on one of their Handles still reports true),
// and later Schedule calls return the zero Handle without running their
// task. Close is idempotent and always returns nil. It must not be called
// from a Task: it would wait for itself.
func (s *Scheduler) Close() error {
	if s == nil || s.exited == nil {
		return nil // nil or zero Scheduler: nothing runs
	}
	if s.closed.CompareAndSwap(false, true) {
		close(s.done)
	}
	<-s.exited
	return nil
}

// Shutdown is Close, except that every task still pending when it is called
// runs once, at once, on the wheel goroutine before it exits, whatever its
// deadline. Use it when a pending task releases something that would
// otherwise wait forever: rego's engine shuts down this way so that an
// attempt whose deadline timer was pending is cancelled rather than left
// running past its deadline. Tasks scheduled after Shutdown began never run.
// Like Close, it waits for the wheel goroutine and is idempotent; after a
// Close it does nothing more.
func (s *Scheduler) Shutdown() error {
	if s == nil || s.exited == nil {
		return nil
	}
	if s.closed.CompareAndSwap(false, true) {
		s.runOnClose.Store(true)
		close(s.done)
	}
	<-s.exited
	return nil
}

func (s *Scheduler) check(t Task) error {
	if t == nil {
		return ErrNilTask
	}
	if s == nil || s.clock == nil || s.closed.Load() {
		return ErrClosed // a nil or zero Scheduler acts closed
	}
	return nil
}

// elapsed returns the clock's time since the scheduler started, >= 0.
func (s *Scheduler) elapsed() time.Duration {
	var e time.Duration
	if s.system {
		e = time.Since(s.start) // one monotonic read instead of wall + monotonic
	} else {
		e = s.clock.Now().Sub(s.start)
	}
	return min(max(e, 0), maxDelay)
}

// nowTick returns the last tick boundary at or before the clock's now.
func (s *Scheduler) nowTick() int64 { return int64(s.elapsed() / s.tick) }
