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
