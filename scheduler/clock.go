package scheduler

import "time"

// Clock is the time source a Scheduler reads and sleeps on. Production code
// uses SystemClock; tests inject a *FakeClock, or use SystemClock inside a
// testing/synctest bubble.
type Clock interface {
	// Now returns the current time.
	Now() time.Time
	// NewTimer returns an armed Timer that fires once, after d. A d <= 0
	// fires at once.
	NewTimer(d time.Duration) Timer
}

// Timer is a one-shot timer from a Clock, with the Go 1.23 time.Timer
// contract: after Stop or Reset returns, no stale value is received from C.
type Timer interface {
	// C returns the channel the fire time is delivered on.
	C() <-chan time.Time
	// Stop disarms the timer. It reports whether the call stopped it, false
	// if it had already fired or been stopped.
	Stop() bool
	// Reset re-arms the timer to fire after d. It reports whether the timer
	// was armed.
	Reset(d time.Duration) bool
}

// PollingClock is implemented by a Clock on which the wheel goroutine may
// poll for coarse timers (see ScheduleCoarseNode) as it does on
// SystemClock, when PollCoarse returns true. A polling wheel counts a
// coarse task's delay from the tick at which it takes the task, so the
// task's run time depends on when the wheel goroutine runs: only a clock
// whose driver lets every goroutine finish its work before it moves time
// (as a testing/synctest bubble does) gives reproducible results. A
// simulation driven that way implements PollingClock to time coarse tasks
// exactly as production does. So that a run is reproducible, the wheel on
// such a clock also skips the wake-ups that the system clock's wheel takes
// at about one push in 256 (which take the mailbox at a random instant).
// FakeClock does not poll: a test's Advance would otherwise race with the
// wheel goroutine.
type PollingClock interface {
	Clock
	// PollCoarse reports whether the wheel may poll on this clock. It is
	// called once, by New.
	PollCoarse() bool
}

// SystemClock returns the Clock backed by the time package (and so, inside
// a testing/synctest bubble, by the bubble's fake time).
func SystemClock() Clock { return systemClock{} }

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

func (systemClock) NewTimer(d time.Duration) Timer { return systemTimer{time.NewTimer(d)} }

// systemTimer is a single pointer, so storing it in a Timer interface does
// not allocate.
type systemTimer struct{ t *time.Timer }

func (t systemTimer) C() <-chan time.Time        { return t.t.C }
func (t systemTimer) Stop() bool                 { return t.t.Stop() }
func (t systemTimer) Reset(d time.Duration) bool { return t.t.Reset(d) }
