package budget

import (
	"errors"
	"math"
	"math/rand/v2"
	"sync/atomic"
	"time"
)

// AdaptiveConfig configures an [Adaptive] throttle. See [NewAdaptive]. Zero
// fields take the SRE book's defaults.
type AdaptiveConfig struct {
	// K is the multiplier on accepts: the throttle starts rejecting once
	// requests exceed K × accepts. Lower is more aggressive. 0 means 2;
	// otherwise at least 1 (below 1 it would throttle a healthy backend).
	K float64
	// Window is how long requests and accepts count. 0 means 2 minutes;
	// otherwise [10ms, 24h].
	Window time.Duration
	// Now is the clock; nil means time.Now.
	Now Clock
	// UnixNanos, when set, is Now read as Unix nanoseconds; see
	// [RatioConfig].UnixNanos.
	UnixNanos func() int64
	// Rand returns a number in [0, 1); nil means math/rand/v2.Float64. It is
	// called only when the rejection probability is above zero.
	Rand func() float64
}

// Counter indexes in an Adaptive's window.
const (
	requests = 0 // attempts made, plus those rejected locally
	accepts  = 1 // attempts the backend accepted
)

// Adaptive is the client-side adaptive throttle of Google's SRE book
// ("Handling Overload"). Over a sliding window it counts requests and accepts
// and rejects locally with probability
//
//	p = max(0, (requests − K·accepts) / (requests + 1))
//
// so that, once the backend accepts less than 1/K of what is sent, the client
// stops sending most of what would fail anyway, and recovers on its own as
// accepts come back and old requests leave the window.
//
// Requests are counted once each: an attempt that ran is counted by Record
// when it ends (and its accept, if ok), an attempt refused by TryAcquire or
// Admit is counted at the refusal. Admitted attempts are therefore not counted
// until they are recorded, which is why every attempt that ran must be
// recorded. Adaptive implements [Admitter]: Admit applies the same test to a
// call's first attempt when its policy lets the throttle gate first attempts;
// TryAcquire applies it to retries and hedges. Release is a no-op.
//
// An Adaptive is safe for concurrent use, lock-free and allocation-free (as
// long as Rand is); see the package comment for the consistency caveat at
// bucket boundaries. Create it with [NewAdaptive]; the zero value is not
// usable, and an Adaptive must not be copied.
type Adaptive struct {
	k    float64        // immutable
	rand func() float64 // immutable
	w    window
	// Lifetime counters, only for Stats.
	acquired, denied, admitted, refused atomic.Uint64
}

var (
	_ Budget   = (*Adaptive)(nil)
	_ Admitter = (*Adaptive)(nil)
	_ Timed    = (*Adaptive)(nil)
)

// NewAdaptive validates c, fills its zero fields with the defaults (K = 2,
// Window = 2 minutes) and returns the throttle. Errors are [*ConfigError]s
// joined with errors.Join, each matching errors.Is(err, ErrInvalidConfig).
func NewAdaptive(c AdaptiveConfig) (*Adaptive, error) {
	if c.K == 0 {
		c.K = DefaultAdaptiveK
	}
	if c.Window == 0 {
		c.Window = DefaultAdaptiveWindow
	}
	var errs []error
	errs = checkFloat(errs, "adaptive", "K", c.K, 1, math.MaxFloat64)
	errs = checkWindow(errs, "adaptive", c.Window)
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	a := &Adaptive{k: c.K, rand: c.Rand}
	if a.rand == nil {
		a.rand = rand.Float64
	}
	a.w.init(c.Now, c.UnixNanos, c.Window)
	return a, nil
}

// probability returns the rejection probability over the window ending at e.
func (a *Adaptive) probability(e int64) float64 {
	req := float64(a.w.sum(requests, e))
	return max(0, (req-a.k*float64(a.w.sum(accepts, e)))/(req+1))
}

// allow draws the decision at epoch e, counting a rejection as a request.
func (a *Adaptive) allow(e int64) bool {
	if p := a.probability(e); p > 0 && a.rand() < p {
		a.w.add(requests, e)
		return false
	}
	return true
}

// Admit decides whether a call's first attempt may go to the backend. It
// never waits; false means the call should fail at once without an attempt.
func (a *Adaptive) Admit() bool { return a.admit(a.w.epoch()) }

// AdmitAt is Admit at a time the caller just read from the budget's Clock
// (time.Now when it is nil), saving a clock read.
func (a *Adaptive) AdmitAt(now time.Time) bool { return a.admit(a.w.epochAt(now)) }

func (a *Adaptive) admit(e int64) bool {
	if a.allow(e) {
		a.admitted.Add(1)
		return true
	}
	a.refused.Add(1)
	return false
}

// TryAcquire decides whether a retry or hedge may go to the backend, by the
// same test as Admit. It never waits.
func (a *Adaptive) TryAcquire() bool { return a.tryAcquire(a.w.epoch()) }

// TryAcquireAt is TryAcquire at a time the caller just read from the
// budget's Clock, saving a clock read.
func (a *Adaptive) TryAcquireAt(now time.Time) bool { return a.tryAcquire(a.w.epochAt(now)) }

func (a *Adaptive) tryAcquire(e int64) bool {
	if a.allow(e) {
		a.acquired.Add(1)
		return true
	}
	a.denied.Add(1)
	return false
}

// Release does nothing: the throttle counts requests, not attempts in flight.
func (a *Adaptive) Release() {}

// Record counts one attempt that ran as a request, and as an accept when ok.
func (a *Adaptive) Record(first, ok bool) { a.record(a.w.epoch(), ok) }

// RecordAt is Record at a time the caller just read from the budget's Clock.
func (a *Adaptive) RecordAt(now time.Time, first, ok bool) { a.record(a.w.epochAt(now), ok) }

func (a *Adaptive) record(e int64, ok bool) {
	a.w.add(requests, e)
	if ok {
		a.w.add(accepts, e)
	}
}

// AdaptiveStats is a point-in-time view of an [Adaptive] throttle.
type AdaptiveStats struct {
	Acquired, Denied  uint64  // TryAcquire results since creation
	Admitted, Refused uint64  // Admit results since creation
	Requests, Accepts uint64  // in the current window
	RejectProbability float64 // what the next decision would use
}

// Stats returns the throttle's counters. Window counts are read bucket by
// bucket and may be off by the events recorded during the read.
func (a *Adaptive) Stats() AdaptiveStats {
	e := a.w.epoch()
	return AdaptiveStats{
		Acquired:          a.acquired.Load(),
		Denied:            a.denied.Load(),
		Admitted:          a.admitted.Load(),
		Refused:           a.refused.Load(),
		Requests:          a.w.sum(requests, e),
		Accepts:           a.w.sum(accepts, e),
		RejectProbability: a.probability(e),
	}
}
