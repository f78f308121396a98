package breaker

import "sync/atomic"

// A closed episode's sliding window: numBuckets buckets, each with two
// counters packed with the bucket's lap in one word, as budget's window:
// a stale bucket is reset and incremented by the same compare-and-swap, so
// a reset never erases a racing increment. 28 count bits hold 268 million
// events a bucket; the 36 lap bits last ~21 years of 1 ms buckets (the
// shortest Window is 10ms).
const (
	numBuckets = 10
	countBits  = 28
	countMask  = 1<<countBits - 1
)

// Counter indexes.
const (
	calls    = 0
	failures = 1
)

type window struct {
	origin int64 // nanoseconds; epoch 0 starts here. Immutable.
	width  int64 // one bucket, nanoseconds (> 0). Immutable.
	slots  [numBuckets][2]atomic.Uint64
}

func (w *window) epoch(now int64) int64 {
	if now <= w.origin {
		return 0
	}
	return (now - w.origin) / w.width
}

// add counts one event of counter c at epoch e.
func (w *window) add(c int, e int64) {
	s := &w.slots[e%numBuckets][c]
	lap := uint64(e / numBuckets)
	for {
		old := s.Load()
		var nw uint64
		switch {
		case old>>countBits < lap:
			nw = lap<<countBits | 1
		case old&countMask == countMask:
			return // saturated: undercount rather than overflow into the lap
		default:
			nw = old + 1 // a writer stalled past its lap counts into the newer bucket
		}
		if s.CompareAndSwap(old, nw) {
			return
		}
	}
}

// sum returns counter c over the window ending at epoch e.
func (w *window) sum(c int, e int64) uint64 {
	var n uint64
	for i := range numBuckets {
		x := w.slots[i][c].Load()
		if se := int64(x>>countBits)*numBuckets + int64(i); se <= e && se > e-numBuckets {
			n += x & countMask
		}
	}
	return n
}
