package engine

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/regoresilience/rego/internal/attemptkey"
	"github.com/regoresilience/rego/observe"
	"github.com/regoresilience/rego/policy"
	"github.com/regoresilience/rego/scheduler"
)

// attemptCtx is the context an attempt runs under, except for first attempts
// that need none of this (see firstCtx). It is the one allocation of such an
// attempt, so it does as little as it can up front:
//
//   - It carries AttemptInfo by pointer (Value returns &info: no boxing).
//   - When the attempt has no deadline of its own and cannot be cancelled by rego
//     (no hedging), Done and Err are the parent's: nothing to arm, nothing to stop.
//   - Otherwise ("own" mode) the done channel, the deadline timer on the shared
//     wheel and the watch on the parent are armed lazily, on the first call to Done
//     or AfterFunc. An op that never asks for Done costs no timer; Err still
//     reports an expired deadline by reading the clock.
//
// Ownership: info, parent and own are written before the op starts and
// read-only after. err, arm and state are atomics shared by the op's
// goroutines, the wheel goroutine (deadline) and the engine (finish, lose).
// state is the attempt's end: finish and lose write it, then close an armed
// done channel; Done, Err and armed read it, and armed, having published a
// channel, re-reads it (so one of the two sides always closes it).
type attemptCtx struct {
	parent context.Context
	eng    *Engine
	info   observe.AttemptInfo // info.Deadline is the effective deadline: min(parent's, call's, attempt's)

	err   atomic.Pointer[error]     // set once: by cancel, lose, or Err once the attempt ended
	arm   atomic.Pointer[armedDone] // nil until Done/AfterFunc asks while the attempt runs
	state atomic.Uint32             // attemptRunning, then attemptFinished or attemptLost
	own   bool                      // rego must be able to end this context itself (last: packs with state)
}

// firstCtx is the context of a first attempt that rego never has to end by
// itself: no attempt deadline of its own, no hedging. Done, Err and Deadline
// are the caller's, and the AttemptInfo is computed when asked for (Index 0,
// the caller's deadline), so the context is 48 bytes: it is the one
// allocation of the path nearly every call takes, and every byte of it is
// garbage to collect. A context derived from it finds the caller's
// cancelation through Value when the caller's context is the standard
// library's, and through AfterFunc otherwise (a rego attempt context, say,
// when calls nest): either way without a goroutine of its own.
//
// Immutable: both fields are written before the op starts.
type firstCtx struct {
	parent context.Context
	key    policy.Key
}

func (c *firstCtx) Deadline() (time.Time, bool) { return c.parent.Deadline() }
func (c *firstCtx) Done() <-chan struct{}       { return c.parent.Done() }
func (c *firstCtx) Err() error                  { return c.parent.Err() }

func (c *firstCtx) Value(key any) any {
	if _, ok := key.(attemptkey.Key); ok {
		return c
	}
	return c.parent.Value(key)
}

// AfterFunc lets contexts derived from this one follow the caller's
// cancelation without a goroutine when the caller's context is not the
// standard library's (the standard library looks for this method).
func (c *firstCtx) AfterFunc(f func()) func() bool { return context.AfterFunc(c.parent, f) }

// AttemptInfo computes the attempt for observe.AttemptFromContext, which
// reads it through Value(attemptkey.Key{}).
func (c *firstCtx) AttemptInfo() observe.AttemptInfo {
	d, _ := c.parent.Deadline()
	return observe.AttemptInfo{Key: c.key, Deadline: d}
}

// armedDone is what Done arms: the done channel handed out, plus the things to
// undo when the attempt ends. A derived context's AfterFunc needs a real
// context to hang on, so that one (inner) is made only when asked for.
type armedDone struct {
	done       chan struct{}
	closed     atomic.Bool // done is closed (the first closer wins)
	inner      atomic.Pointer[innerCtx]
	timer      scheduler.Handle
	stopParent func() bool
}

type innerCtx struct {
	ctx    context.Context
	cancel context.CancelFunc
}

// close closes the done channel once, and the inner context if there is one.
func (a *armedDone) close() {
	if !a.closed.CompareAndSwap(false, true) {
		return
	}
	close(a.done)
	if in := a.inner.Load(); in != nil {
		in.cancel()
	}
}

// innerCtx returns a context that ends with a, creating it on first use.
func (a *armedDone) innerCtx() context.Context {
	if in := a.inner.Load(); in != nil {
		return in.ctx
	}
	ctx, cancel := context.WithCancel(context.Background())
	if !a.inner.CompareAndSwap(nil, &innerCtx{ctx, cancel}) {
		cancel()
		return a.inner.Load().ctx
	}
	if a.closed.Load() { // close may have run before the publication
		cancel()
	}
	return ctx
}

var (
	errCanceled = context.Canceled
	errDeadline = context.DeadlineExceeded

	// finishedArm is what Done and AfterFunc use once an attempt has ended
	// without an armed done channel: an already-closed one, shared.
	finishedArm = func() *armedDone {
		a := &armedDone{done: make(chan struct{})}
		a.close()
		return a
	}()
)

// errPtr maps a context error to a package-level pointer so that recording it
// never allocates.
func errPtr(err error) *error {
	if err == context.DeadlineExceeded {
		return &errDeadline
	}
	return &errCanceled
}

func (c *attemptCtx) Deadline() (time.Time, bool) {
	if !c.own {
		return c.parent.Deadline()
	}
	return c.info.Deadline, !c.info.Deadline.IsZero()
}

func (c *attemptCtx) Done() <-chan struct{} {
	if !c.own {
		return c.parent.Done()
	}
	return c.armed().done
}

func (c *attemptCtx) Err() error {
	if !c.own {
		return c.parent.Err()
	}
	if e := c.err.Load(); e != nil {
		return *e
	}
	if c.state.Load() != attemptRunning {
		// The attempt has ended (finish writes nothing else): from now on
		// the context reads as cancelled. The first error reported stays.
		c.err.CompareAndSwap(nil, &errCanceled)
		return *c.err.Load()
	}
	// The cancel may lose to a concurrent writer of err (lose, the timer,
	// the parent watch): report the error that won, so that Err never
	// changes its answer.
	if err := c.parent.Err(); err != nil {
		c.cancel(errPtr(err))
		return *c.err.Load()
	}
	if !c.info.Deadline.IsZero() && !c.eng.clock.Now().Before(c.info.Deadline) {
		c.cancel(&errDeadline)
		return *c.err.Load()
	}
	return nil
}

func (c *attemptCtx) Value(key any) any {
	if _, ok := key.(attemptkey.Key); ok {
		return &c.info
	}
	return c.parent.Value(key)
}

// AfterFunc lets context.WithCancel and friends derived from an attempt context
// propagate cancellation without starting a goroutine per derived context
// (the standard library checks for this method).
func (c *attemptCtx) AfterFunc(f func()) func() bool {
	if !c.own {
		return context.AfterFunc(c.parent, f)
	}
	return context.AfterFunc(c.armed().innerCtx(), f)
}

// Run is the deadline timer's task: it runs on the wheel goroutine. It also
// runs, early, when the engine shuts its wheel down: the attempt is then
// cancelled rather than left without a deadline.
func (c *attemptCtx) Run() {
	if c.eng.closed.Load() && c.eng.clock.Now().Before(c.info.Deadline) {
		c.cancel(&errCanceled)
		return
	}
	c.cancel(&errDeadline)
}

// armed returns the armed done state, arming it on first use. Several goroutines
// may race here; one wins the CAS and the others undo what they armed.
func (c *attemptCtx) armed() *armedDone {
	if a := c.arm.Load(); a != nil {
		return a
	}
	if c.state.Load() != attemptRunning {
		return finishedArm // ended: nothing to arm
	}
	a := &armedDone{done: make(chan struct{})}
	if c.err.Load() == nil {
		if !c.info.Deadline.IsZero() {
			d := c.info.Deadline.Sub(c.eng.clock.Now())
			if d <= 0 {
				c.cancel(&errDeadline)
			} else if h, err := c.eng.sched.TrySchedule(d, c); err == nil {
				a.timer = h
				if c.eng.closed.Load() {
					// Close may have shut the wheel down between
					// TrySchedule's check and its push: the timer would
					// never fire. (Close stores closed first, so if the
					// push beat the shutdown, Shutdown fires it early and
					// this cancel is the same.)
					c.cancel(&errCanceled)
				}
			} else {
				c.cancel(&errCanceled) // the engine is closed: nothing would ever fire
			}
		}
		if c.parent.Done() != nil {
			a.stopParent = context.AfterFunc(c.parent, func() { c.cancel(errPtr(c.parent.Err())) })
		}
	}
	if !c.arm.CompareAndSwap(nil, a) {
		a.release()
		return c.arm.Load()
	}
	// finish may have looked at arm before the publication (it stores
	// state, then loads arm; this stored arm and now loads state, so one of
	// the two sees the other), and cancel may have run between our check and
	// the publication: re-check both.
	if c.state.Load() != attemptRunning {
		a.release()
		a.close()
	} else if c.err.Load() != nil {
		a.close()
	}
	return a
}

func (a *armedDone) release() {
	a.timer.Stop()
	if a.stopParent != nil {
		a.stopParent()
	}
}

// cancel ends the context with err; the first call wins. (Err also sets err,
// without closing anything, once the attempt has ended: finish and lose
// close the done channel themselves.)
func (c *attemptCtx) cancel(err *error) {
	if !c.err.CompareAndSwap(nil, err) {
		return
	}
	if a := c.arm.Load(); a != nil {
		a.close()
	}
}

// Attempt states: an attempt either returns on its own (finished) or is
// cancelled first because another attempt settled its round (lost).
const (
	attemptRunning = iota
	attemptFinished
	attemptLost
)

// finish is called by the engine when the op has returned (or was lost): it
// ends the context so that work the op left behind sees it done, and
// releases the timer and the parent watch if Done armed them. Ending is the
// state change alone: Done and Err read state, so an attempt nobody asked
// Done of costs one compare-and-swap here, not three.
func (c *attemptCtx) finish() {
	c.state.CompareAndSwap(attemptRunning, attemptFinished)
	if !c.own {
		return
	}
	if a := c.arm.Load(); a != nil {
		a.release()
		a.close()
	}
}
