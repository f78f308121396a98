package budget

import (
	"math"
	"sync/atomic"
	"time"
	"unsafe"
)

// Geometry of a sliding window. A bucket word packs (lap, count): the high
// lapBits hold epoch/numBuckets (which turn of the ring the bucket belongs
// to), the low countBits hold the bucket's count. One word per counter means
// a bucket is reset and incremented by the same compare-and-swap, so a reset
// can never erase an increment that raced with it (the classic bug of an
// epoch field beside a separate counter).
const (
	numBuckets = 10
	countBits  = 28 // 268,435,455 events per bucket, then the count saturates
	countMask  = 1<<countBits - 1
	lapBits    = 64 - countBits // 2^36 laps: ~21.8 years of 10 ms windows, ~21,800 years of 10 s ones
	maxEpoch   = 1<<lapBits*numBuckets - 1
)

// window is a ring of numBuckets time buckets, each holding up to three
// counters. It is owned by a [Ratio] (or the two of a pair, see
// [NewRatioPair]) or an [Adaptive], and shares their concurrency
// promise: every method is lock-free, allocation-free and safe for concurrent
// use.
type window struct {
	windowHeader
	_ [cacheLine - unsafe.Sizeof(windowHeader{})%cacheLine]byte

	// slots[i].c[k] is counter k of the bucket whose epoch e has
	// e%numBuckets == i, packed as lap<<countBits | count with lap =
	// e/numBuckets. The zero word is lap 0, count 0: harmless everywhere.
	// Buckets sit a cache line apart: only the current bucket is written,
	// so the other nine can stay shared in every core's cache while
	// callers sum them. (Go does not align objects to cache lines, so this
	// is best effort: at most one pair of neighbours shares a line when an
	// object happens to start 56 bytes into one.)
	slots [numBuckets]slot
}

// windowHeader is the read-mostly part of a window.
type windowHeader struct {
	now    Clock         // nil: time.Since(origin), one monotonic clock read; immutable after init
	nanos  func() int64  // when set, read instead of now (the same clock, in Unix ns); immutable
	origin time.Time     // epoch 0 starts here; immutable after init
	orgNs  int64         // origin.UnixNano(); immutable after init
	width  time.Duration // one bucket: Window/numBuckets; immutable after init
	// fastHi is the highest epoch h for which (h+1)*width cannot overflow:
	// below it epochOf can tell "still in epoch hi" with a multiplication
	// instead of a division. Immutable after init.
	fastHi int64

	// hi is the highest epoch any caller has observed. Callers use
	// max(clock epoch, hi), so epochs never go back and a bucket is only
	// ever reset forwards. Written once per bucket width.
	hi atomic.Int64
}

type slot struct {
	c [3]atomic.Uint64 // a Ratio pair uses all three; Ratio and Adaptive two
	_ [cacheLine - 24]byte
}

// cacheLine is a common cache line size (x86-64, most arm64).
const cacheLine = 64

func (w *window) init(now Clock, nanos func() int64, length time.Duration) {
	w.now, w.nanos = now, nanos
	switch {
	case nanos != nil:
		w.origin = time.Unix(0, nanos())
	case now == nil:
		w.origin = time.Now()
	default:
		w.origin = now()
	}
	w.orgNs = w.origin.UnixNano()
	w.width = length / numBuckets
	w.fastHi = math.MaxInt64/int64(w.width) - 1
}

// elapsed returns the time since origin. time.Since reads only the
// monotonic clock, half the cost of time.Now's two reads; a nanosecond
// clock (typically a coarse clock kept in an atomic) costs a load and a
// subtraction, with no time.Time to build.
func (w *window) elapsed() time.Duration {
	switch {
	case w.nanos != nil:
		return time.Duration(w.nanos() - w.orgNs)
	case w.now == nil:
		return time.Since(w.origin)
	}
	return w.now().Sub(w.origin)
}

// epoch returns the current bucket epoch: floor((now-origin)/width), clamped
// to [hi, maxEpoch]. Past maxEpoch (a clock decades ahead) every event lands
// in the last epoch and the window stops sliding rather than wrapping.
func (w *window) epoch() int64 { return w.epochOf(w.elapsed()) }

// epochAt is epoch for a time the caller read from the budget's clock.
func (w *window) epochAt(now time.Time) int64 { return w.epochOf(now.Sub(w.origin)) }

func (w *window) epochOf(d time.Duration) int64 {
	// Nearly every call falls in the highest epoch seen so far (an epoch
	// lasts a tenth of the window): recognise that without dividing.
	if h := w.hi.Load(); h <= w.fastHi && d < time.Duration(h+1)*w.width {
		return h
	}
	var e int64
	if d > 0 {
		e = int64(d / w.width)
		if e > maxEpoch {
			e = maxEpoch
		}
	}
	for {
		h := w.hi.Load()
		if e <= h {
			return h
		}
		if w.hi.CompareAndSwap(h, e) {
			return e
		}
	}
}

func pack(lap int64, n uint64) uint64 { return uint64(lap)<<countBits | n }
func wordLap(x uint64) int64          { return int64(x >> countBits) }
func wordCount(x uint64) uint64       { return x & countMask }

// inWindow reports whether word x, read from slot i, belongs to one of the
// numBuckets buckets of the window ending at epoch e.
func inWindow(x uint64, i int, e int64) bool {
	se := wordLap(x)*numBuckets + int64(i)
	return se <= e && se > e-numBuckets
}

// add counts one event for counter c in the bucket of epoch e. A writer that
// stalled for a whole window finds its slot already in a newer lap and counts
// into that bucket: the event is late, but it is not lost.
func (w *window) add(c int, e int64) {
	s := &w.slots[e%numBuckets].c[c]
	lap := e / numBuckets
	for {
		old := s.Load()
		var nw uint64
		switch {
		case wordLap(old) < lap:
			nw = pack(lap, 1)
		case wordCount(old) == countMask:
			return // saturated: undercount rather than overflow into the lap
		default:
			nw = old + 1
		}
		if s.CompareAndSwap(old, nw) {
			return
		}
	}
}

// sum returns counter c summed over the window ending at epoch e. The ten
// loads are not one snapshot: events recorded concurrently may or may not be
// included (see the package comment).
func (w *window) sum(c int, e int64) uint64 {
	var n uint64
	for i := range numBuckets {
		if x := w.slots[i].c[c].Load(); inWindow(x, i, e) {
			n += wordCount(x)
		}
	}
	return n
}

// sumOthers is sum without the bucket of epoch e itself.
func (w *window) sumOthers(c int, e int64) uint64 {
	var n uint64
	cur := int(e % numBuckets)
	for i := range numBuckets {
		if i == cur {
			continue
		}
		if x := w.slots[i].c[c].Load(); inWindow(x, i, e) {
			n += wordCount(x)
		}
	}
	return n
}
