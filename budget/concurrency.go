package budget

import (
	"errors"
	"strconv"
	"sync/atomic"
	"time"
)

// ConcurrencyConfig configures a [Concurrency] limit. See [NewConcurrency].
type ConcurrencyConfig struct {
	// Max is how many granted attempts may be in flight at once; at least 1.
	Max int
}

// Concurrency is Envoy's max-retries circuit breaker: at most Max retries or
// hedges in flight at once, whatever the request rate. A permit is taken by
// TryAcquire and given back by Release when the attempt ends. Record is
// ignored.
//
// The in-flight count is exact: it never exceeds Max and never goes below
// zero. The rule is one Release per granted permit. An extra Release while
// nothing is in flight is detected and ignored (counted in
// ConcurrencyStats.Unmatched); an extra Release while other permits are out
// cannot be told from theirs and frees one of their slots early, after which
// the last of their Releases is the one ignored. Either way the count stays
// within [0, Max].
//
// A Concurrency is safe for concurrent use, lock-free and allocation-free.
// Create it with [NewConcurrency]; the zero value is not usable, and a
// Concurrency must not be copied.
type Concurrency struct {
	max      int64        // immutable
	inFlight atomic.Int64 // always within [0, max]
	// Lifetime counters, only for Stats. Releases that gave a permit back
	// are not counted: they are acquired − inFlight, one atomic add less
	// per permit.
	acquired, denied, unmatched atomic.Uint64
}

var (
	_ Budget = (*Concurrency)(nil)
	_ Timed  = (*Concurrency)(nil)
)

// NewConcurrency validates c and returns an empty limit. The error is a
// [*ConfigError] matching errors.Is(err, ErrInvalidConfig).
func NewConcurrency(c ConcurrencyConfig) (*Concurrency, error) {
	if c.Max < 1 {
		return nil, errors.Join(&ConfigError{"concurrency", "Max", "must be >= 1, got " + strconv.Itoa(c.Max)})
	}
	return &Concurrency{max: int64(c.Max)}, nil
}

// TryAcquire takes a permit if fewer than Max are in flight. It never waits.
func (c *Concurrency) TryAcquire() bool {
	for {
		n := c.inFlight.Load()
		if n >= c.max {
			c.denied.Add(1)
			return false
		}
		if c.inFlight.CompareAndSwap(n, n+1) {
			c.acquired.Add(1)
			return true
		}
	}
}

// Release gives back one permit. Called with nothing in flight, it does
// nothing but count the mistake in ConcurrencyStats.Unmatched.
func (c *Concurrency) Release() {
	for {
		n := c.inFlight.Load()
		if n <= 0 {
			c.unmatched.Add(1)
			return
		}
		if c.inFlight.CompareAndSwap(n, n-1) {
			return
		}
	}
}

// Record does nothing: the limit counts attempts in flight, not outcomes.
func (c *Concurrency) Record(first, ok bool) {}

// TryAcquireAt is TryAcquire: a Concurrency limit has no clock.
func (c *Concurrency) TryAcquireAt(now time.Time) bool { return c.TryAcquire() }

// RecordAt does nothing, like Record.
func (c *Concurrency) RecordAt(now time.Time, first, ok bool) {}

// ConcurrencyStats is a point-in-time view of a [Concurrency] limit. Once
// every granted attempt has ended, Acquired == Released and InFlight == 0.
type ConcurrencyStats struct {
	Acquired, Denied uint64 // TryAcquire results since creation
	Released         uint64 // Releases that gave a permit back
	Unmatched        uint64 // Releases ignored because nothing was in flight
	InFlight, Max    int
}

// Stats returns the limit's counters. They are read one by one, so while
// calls are running they need not add up; once they have all ended, they do.
func (c *Concurrency) Stats() ConcurrencyStats {
	// inFlight first: every permit it counts was granted before the
	// acquired load below, though that counter's Add may still be pending.
	n := c.inFlight.Load()
	a := c.acquired.Load()
	return ConcurrencyStats{
		Acquired:  a,
		Denied:    c.denied.Load(),
		Released:  a - min(a, uint64(n)),
		Unmatched: c.unmatched.Load(),
		InFlight:  int(n),
		Max:       int(c.max),
	}
}
