package budget

import (
	"errors"
	"fmt"
	"sync/atomic"
	"time"
)

// RatioConfig configures a [Ratio] budget. See [NewRatio].
type RatioConfig struct {
	// Percent of the first attempts seen in the window that may be retried:
	// 10 means one retry per ten calls. 0 leaves only the floor. Range [0, 1000].
	Percent float64
	// MinPerSecond is the floor: MinPerSecond × Window retries are always
	// allowed per window, however few first attempts there were, so a quiet
	// key can still retry. Range [0, 1e6].
	MinPerSecond float64
	// Window is how long deposits and withdrawals count. Range [10ms, 24h];
	// zero is an error.
	Window time.Duration
	// Now is the clock; nil means time.Now.
	Now Clock
	// UnixNanos, when set, is the same clock as Now read as Unix nanoseconds
	// (what Now().UnixNano() would return); the budget then reads it instead
	// of Now on every call. A clock kept in an atomic (a coarse clock
	// refreshed by a goroutine, say) costs one load this way, where Now
	// would build and subtract a time.Time. Times passed to the Timed
	// methods must still come from the same clock. Unix nanoseconds carry no
	// monotonic reading: with a wall clock behind it, a clock step (NTP)
	// moves the window forward (never back).
	UnixNanos func() int64
}

// Counter indexes in a Ratio's window.
const (
	deposits    = 0 // first attempts recorded
	withdrawals = 1 // permits granted
	// pairWithdrawals is the second Ratio of a pair's permits granted:
	// the pair shares one window and its deposits.
	pairWithdrawals = 2
)

// Ratio is a retry budget in the shape of Finagle's RetryBudget: over a
// sliding window, the permits granted may not exceed Percent% of the first
// attempts recorded plus a floor of MinPerSecond × Window. Concretely a
// TryAcquire succeeds when, counting the buckets of the current window,
//
//	withdrawals + 1 <= Percent/100 × deposits + MinPerSecond × Window.Seconds()
//
// where deposits are Record(first=true, _) calls and withdrawals are granted
// permits. Both expire with their bucket, Window/10 granularity: an event
// counts for between 9/10 of the window and the whole window. Withdrawals are
// never refunded, so Release is a no-op, and the outcome passed to Record is
// ignored: a budget that only refilled on success would lock a recovering
// backend out of retries.
//
// Because each aligned window is itself a sliding window, the retries in it
// are bounded by its own deposits: a backend failing every call sees at most
// (1 + Percent/100) × its first attempts + MinPerSecond retries per second,
// whatever MaxAttempts is.
//
// A Ratio is safe for concurrent use, lock-free and allocation-free; see the
// package comment for the consistency caveat at bucket boundaries. Create it
// with [NewRatio], [DefaultRetry] or [DefaultHedge]; the zero value is not
// usable, and a Ratio must not be copied.
type Ratio struct {
	// shared is, in the second Ratio of a pair, the first's window; nil
	// otherwise. Immutable. See win.
	shared  *window
	wd      int     // the counter of the window holding this Ratio's withdrawals; immutable
	pct     float64 // Percent/100; immutable
	reserve float64 // MinPerSecond × Window.Seconds(); immutable
	// Lifetime counters, only for Stats.
	acquired, denied atomic.Uint64
	_                [cacheLine - 48]byte // own starts on a line, so its slots do too
	// own is the window of a Ratio that is not a pair's second. It is
	// embedded (not allocated apart) to save Record, on every call, a
	// pointer chase to memory of its own.
	own window
}

// win returns the Ratio's window. A branch rather than a pointer kept to
// own: the CPU predicts it and computes own's address without waiting for
// a load, which Record, on every call, notices.
func (r *Ratio) win() *window {
	if r.shared != nil {
		return r.shared
	}
	return &r.own
}

var (
	_ Budget = (*Ratio)(nil)
	_ Timed  = (*Ratio)(nil)
)

// NewRatio validates c and returns a Ratio budget. Errors are [*ConfigError]s
// joined with errors.Join, each matching errors.Is(err, ErrInvalidConfig).
func NewRatio(c RatioConfig) (*Ratio, error) {
	if errs := checkRatio(nil, c); len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return newRatio(c), nil
}

func checkRatio(errs []error, c RatioConfig) []error {
	errs = checkFloat(errs, "ratio", "Percent", c.Percent, 0, MaxPercent)
	errs = checkFloat(errs, "ratio", "MinPerSecond", c.MinPerSecond, 0, MaxRate)
	return checkWindow(errs, "ratio", c.Window)
}

// newRatio builds a Ratio from a config known to be valid.
func newRatio(c RatioConfig) *Ratio {
	r := &Ratio{pct: c.Percent / 100, reserve: c.MinPerSecond * c.Window.Seconds(), wd: withdrawals}
	r.own.init(c.Now, c.UnixNanos, c.Window)
	return r
}

// NewRatioPair returns two Ratio budgets that share their deposits: one
// window counts the first attempts once for both, and each grants its own
// permits against its own Percent and floor. It is what a key's default
// retry and hedge budgets are: both are a share of the same first
// attempts, and counting those twice cost every call a second contended
// write.
//
// Record on either deposits for both, so record each first attempt on one
// of them only (see [SharesDeposits]). Both configurations are validated as
// NewRatio's; their Windows must be equal, and the pair reads a's clock
// (b.Now and b.UnixNanos are ignored).
func NewRatioPair(a, b RatioConfig) (*Ratio, *Ratio, error) {
	errs := checkRatio(checkRatio(nil, a), b)
	if a.Window != b.Window {
		errs = append(errs, &ConfigError{Kind: "ratio", Field: "Window",
			Msg: fmt.Sprintf("the two of a pair share one window, got %v and %v", a.Window, b.Window)})
	}
	if len(errs) > 0 {
		return nil, nil, errors.Join(errs...)
	}
	first := newRatio(a)
	// The second uses the first's window; its own stays zero, 768 bytes
	// unused, so that both of a pair are plain *Ratio (Stats, Timed).
	second := &Ratio{pct: b.Percent / 100, reserve: b.MinPerSecond * b.Window.Seconds(), wd: pairWithdrawals, shared: &first.own}
	return first, second, nil
}

// SharesDeposits reports whether a and b are the two Ratios of one pair
// (see [NewRatioPair]), which count their first attempts together: a caller
// recording into both would count each twice.
func SharesDeposits(a, b Budget) bool {
	ra, ok := a.(*Ratio)
	rb, ok2 := b.(*Ratio)
	return ok && ok2 && ra != rb && ra.win() == rb.win()
}

// TryAcquire grants a permit if the window's withdrawals stay within its
// limit. It never waits. The grant is a compare-and-swap on the current
// bucket's withdrawal count, conditioned on the limit, so concurrent callers
// cannot overdraw it.
func (r *Ratio) TryAcquire() bool { return r.tryAcquire(r.win().epoch()) }

// TryAcquireAt is TryAcquire at a time the caller just read from the
// budget's Clock (time.Now when it is nil), saving a clock read.
func (r *Ratio) TryAcquireAt(now time.Time) bool { return r.tryAcquire(r.win().epochAt(now)) }

func (r *Ratio) tryAcquire(e int64) bool {
	w := r.win()
	for {
		s := &w.slots[e%numBuckets].c[r.wd]
		lap := e / numBuckets
		limit := r.pct*float64(w.sum(deposits, e)) + r.reserve
		others := w.sumOthers(r.wd, e)
		old := s.Load()
		var cur, nw uint64
		switch ol := wordLap(old); {
		case ol < lap: // first withdrawal of this bucket's lap
			nw = pack(lap, 1)
		case ol == lap:
			cur, nw = wordCount(old), old+1
		default: // we stalled for a whole window: catch up with the clock
			e = w.epoch()
			continue
		}
		if cur == countMask || float64(others+cur+1) > limit {
			r.denied.Add(1)
			return false
		}
		if s.CompareAndSwap(old, nw) {
			r.acquired.Add(1)
			return true
		}
	}
}

// Release does nothing: a Ratio's withdrawals expire with their bucket.
func (r *Ratio) Release() {}

// Record deposits one first attempt; other attempts and the outcome are
// ignored. The two Ratios of a pair share their deposits.
func (r *Ratio) Record(first, ok bool) {
	if first {
		w := r.win()
		w.add(deposits, w.epoch())
	}
}

// RecordAt is Record at a time the caller just read from the budget's Clock.
func (r *Ratio) RecordAt(now time.Time, first, ok bool) {
	if first {
		w := r.win()
		w.add(deposits, w.epochAt(now))
	}
}

// RatioStats is a point-in-time view of a [Ratio].
type RatioStats struct {
	Acquired, Denied uint64 // TryAcquire results since creation
	FirstAttempts    uint64 // deposits in the current window
	Withdrawals      uint64 // permits granted in the current window
	// Limit is how many withdrawals the current window allows:
	// Percent/100 × FirstAttempts + MinPerSecond × Window.
	Limit float64
}

// Stats returns the budget's counters. Window counts are read bucket by
// bucket and may be off by the events recorded during the read.
func (r *Ratio) Stats() RatioStats {
	w := r.win()
	e := w.epoch()
	d := w.sum(deposits, e)
	return RatioStats{
		Acquired:      r.acquired.Load(),
		Denied:        r.denied.Load(),
		FirstAttempts: d,
		Withdrawals:   w.sum(r.wd, e),
		Limit:         r.pct*float64(d) + r.reserve,
	}
}
