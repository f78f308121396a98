package breaker

import (
	"errors"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/regoresilience/rego/policy"
)

// ErrOpen is the error of a call refused by an open (or fully probed
// half-open) breaker. The engine wraps it in its own error, with the stop
// reason "breaker_open".
var ErrOpen = errors.New("rego: circuit breaker open")

// State is a breaker's state. See the package comment for the transitions.
type State uint8

const (
	Closed   State = iota // calls pass; outcomes are counted
	Open                  // calls are refused until OpenDuration has passed
	HalfOpen              // up to HalfOpenProbes probe calls pass; the others are refused
)

// String returns "closed", "open" or "half_open".
func (s State) String() string {
	switch s {
	case Closed:
		return "closed"
	case Open:
		return "open"
	case HalfOpen:
		return "half_open"
	}
	return "state(" + strconv.Itoa(int(s)) + ")"
}

// Clock returns the current time in nanoseconds from any fixed origin
// (time.Now().UnixNano() will do). It is read on every Record and on Allow
// when the breaker is open, so it must be cheap and safe for concurrent use.
type Clock func() int64

// Breaker is one key's circuit breaker. Create it with New; the zero value
// is not usable, and a Breaker must not be copied.
type Breaker struct {
	// Immutable after New.
	cfg    policy.Breaker // normalized
	now    Clock
	rate   float64 // FailureRate / 100
	openNs int64   // OpenDuration in nanoseconds
	probes int32

	cur atomic.Pointer[episode] // the state in force; replaced by CAS on a transition

	// Lifetime counters, only for Stats.
	opened, refused atomic.Uint64
}

// episode is one stay in a state. Only the fields of its state are used.
type episode struct {
	state State
	since int64 // when the state was entered (nanoseconds of the Clock)
	until int64 // Open: when the breaker may go half-open

	taken  atomic.Int32 // HalfOpen: probe places taken (given back by unresolved probes)
	passed atomic.Int32 // HalfOpen: probes that succeeded

	win window // Closed: attempts and failures
}

// Ticket is a call's admission: it names the episode the call was admitted
// in and whether the call is one of its half-open probes. It is a small
// value kept by the caller; the zero Ticket (no breaker) makes Record and
// Release no-ops.
type Ticket struct {
	ep    *episode
	probe bool // an unresolved half-open probe: it holds a place
}

// Probe reports whether the call was admitted as a half-open probe that has
// not reported its outcome yet.
func (t Ticket) Probe() bool { return t.probe }

// New returns a closed breaker for cfg (normalized first), reading now. It
// returns nil when cfg is off (FailureRate 0), so that a nil *Breaker means
// "no breaker". A nil now means time.Now().UnixNano().
func New(cfg policy.Breaker, now Clock) *Breaker {
	cfg = policy.Policy{Breaker: cfg}.Normalize().Breaker
	if !cfg.Enabled() {
		return nil
	}
	if now == nil {
		now = func() int64 { return time.Now().UnixNano() }
	}
	b := &Breaker{cfg: cfg, now: now, rate: cfg.FailureRate / 100,
		openNs: int64(cfg.OpenDuration), probes: int32(cfg.HalfOpenProbes)}
	b.cur.Store(b.closed(now()))
	return b
}

// Config returns the breaker's normalized configuration: a policy change
// that leaves it equal can keep the breaker and its state.
func (b *Breaker) Config() policy.Breaker { return b.cfg }

func (b *Breaker) closed(now int64) *episode {
	ep := &episode{state: Closed, since: now}
	ep.win.origin, ep.win.width = now, max(int64(b.cfg.Window)/numBuckets, 1)
	return ep
}

// Allow decides whether a call may start. It never waits. On a closed
// breaker it is one atomic load. When it returns false the call must fail
// without running (with ErrOpen); when true the call keeps the Ticket for
// Record and Release.
func (b *Breaker) Allow() (Ticket, bool) {
	for {
		cur := b.cur.Load()
		switch cur.state {
		case Closed:
			return Ticket{ep: cur}, true
		case Open:
			now := b.now()
			if now < cur.until {
				b.refused.Add(1)
				return Ticket{}, false
			}
			b.cur.CompareAndSwap(cur, &episode{state: HalfOpen, since: now})
		default: // HalfOpen
			for {
				n := cur.taken.Load()
				if n >= b.probes {
					break
				}
				if cur.taken.CompareAndSwap(n, n+1) {
					return Ticket{ep: cur, probe: true}, true
				}
			}
			// Every place is taken. Probes that never report (leaked, or
			// stuck on a hung backend) must not keep the breaker half-open
			// for good: after OpenDuration a new half-open period starts.
			now := b.now()
			if now-cur.since < b.openNs {
				b.refused.Add(1)
				return Ticket{}, false
			}
			b.cur.CompareAndSwap(cur, &episode{state: HalfOpen, since: now})
		}
	}
}

// Record reports one finished attempt of the call holding t: failed is
// whether it counts as a failure. Attempts whose outcome says nothing about
// the backend (the caller gave up, the attempt was cancelled by rego) are
// not recorded; the call's Release covers them.
//
// A closed breaker counts it and, on a failure that brings the rate to the
// threshold, opens. A probe's first outcome decides for it: a failure opens
// the breaker again, and the HalfOpenProbes-th success closes it. Outcomes
// from an episode that has ended are ignored. Record never allocates except
// on a transition.
func (b *Breaker) Record(t *Ticket, failed bool) {
	ep := t.ep
	if ep == nil {
		return
	}
	probe := t.probe
	t.probe = false
	cur := b.cur.Load()
	if cur != ep {
		return // the episode ended: its outcomes no longer matter
	}
	switch {
	case ep.state == Closed:
		now := b.now()
		e := ep.win.epoch(now)
		ep.win.add(calls, e)
		if !failed {
			return
		}
		ep.win.add(failures, e)
		n := ep.win.sum(calls, e)
		if n >= uint64(b.cfg.MinCalls) && float64(ep.win.sum(failures, e)) >= b.rate*float64(n) {
			b.trip(ep, now)
		}
	case probe && failed:
		b.trip(ep, b.now())
	case probe:
		if ep.passed.Add(1) >= b.probes {
			b.cur.CompareAndSwap(ep, b.closed(b.now()))
		}
	}
}

// trip opens the breaker if ep is still the episode in force.
func (b *Breaker) trip(ep *episode, now int64) {
	if b.cur.CompareAndSwap(ep, &episode{state: Open, since: now, until: now + b.openNs}) {
		b.opened.Add(1)
	}
}

// Release ends the call holding t: a probe that recorded no outcome gives its
// place back, so another call can probe. Calling it again, or on a Ticket
// that is not a probe, does nothing.
func (b *Breaker) Release(t *Ticket) {
	if t.probe {
		t.probe = false
		if b.cur.Load() == t.ep {
			t.ep.taken.Add(-1)
		}
	}
}

// State returns the state in force. An open breaker whose OpenDuration has
// passed still reports Open until a call's Allow moves it to HalfOpen. A call
// already running uses it to decide on more attempts: the engine starts a
// retry or a hedge only while the breaker is Closed.
func (b *Breaker) State() State { return b.cur.Load().state }

// Stats is a point-in-time view of a Breaker.
type Stats struct {
	State State // as State reports it
	// Calls and Failures are the attempts and failures counted in the
	// current window while closed; 0 otherwise.
	Calls, Failures uint64
	Opened          uint64 // transitions to open since New
	Refused         uint64 // calls refused since New
}

// Stats returns the breaker's counters. Window counts are read bucket by
// bucket and may miss attempts recorded during the read.
func (b *Breaker) Stats() Stats {
	cur := b.cur.Load()
	s := Stats{State: cur.state, Opened: b.opened.Load(), Refused: b.refused.Load()}
	if cur.state == Closed {
		e := cur.win.epoch(b.now())
		s.Calls, s.Failures = cur.win.sum(calls, e), cur.win.sum(failures, e)
	}
	return s
}
