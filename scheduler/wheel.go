package scheduler

import "math/bits"

// The wheel has numLevels levels of 64 slots. A slot at level l spans 64^l
// ticks, so level 0 covers the next 64 ticks one tick per slot, level 1 the
// next 4096 ticks 64 ticks per slot, and so on. Eleven levels cover 66 bits,
// more than any non-negative int64 tick count, so no overflow list is needed.
const (
	slotBits      = 6
	slotsPerLevel = 1 << slotBits
	slotMask      = slotsPerLevel - 1
	numLevels     = 11
)

// wheel is the hierarchical hashed timing wheel (Varghese & Lauck, "Hashed
// and Hierarchical Timing Wheels", 1987), in the variant that picks a node's
// level from the highest 6-bit digit in which its deadline differs from the
// current tick (as in tokio's and Linux's wheels). That choice gives two
// properties the code relies on:
//
//   - every occupied slot at level l has an index greater than the current
//     tick's digit at level l (a node's deadline is later than now, and the
//     two agree on every digit above l), so no slot ever holds nodes from
//     two rotations;
//   - every node at level l is due before every node at level l+1, so the
//     earliest slot is the first occupied one, scanning levels upward.
//
// When now reaches the first tick of a slot at level l > 0, the slot's nodes
// cascade: they are re-filed relative to the new now, landing in lower
// levels. Level 0 slots hold nodes due exactly at that tick.
//
// Owned by the wheel goroutine (or, in white-box tests, by the test
// goroutine standing in for it). Nothing here is touched by call sites.
type wheel struct {
	now   int64 // every tick <= now has been processed
	count int   // nodes filed in slots, cancelled ones included
	// stoppedDue is the earliest deadline (after now) of the nodes discarded
	// from the mailbox because they were stopped before the wheel saw
	// them; noTarget if none. The wheel keeps the wake-up such a node
	// would have needed. Without it, a burst of schedule-and-stop calls on
	// an otherwise idle wheel would leave it with nothing to wait for,
	// and every next Schedule would have to wake it again.
	stoppedDue int64
	// free chains nodes the wheel has finished with; handed to fullChains
	// when chainLen long, or when the wheel goes to sleep.
	free     *node
	freeLen  int
	occupied [numLevels]uint64
	slots    [numLevels][slotsPerLevel]*node
}

// file takes ownership of n, fresh from the mailbox: it discards a node that
// was stopped while in the mailbox, runs one whose deadline has already been
// processed (a late arrival: its call site read the clock before the wheel
// last did), and files the rest.
func (w *wheel) file(n *node) {
	switch {
	case n.state.Load()&stateMask != statePending:
		if n.deadline > w.now {
			w.stoppedDue = min(w.stoppedDue, n.deadline)
		}
		w.recycle(n)
	case n.deadline <= w.now:
		w.fire(n)
	default:
		w.insert(n)
	}
}

// insert files n, whose deadline is after now, in its slot.
func (w *wheel) insert(n *node) {
	l := (bits.Len64(uint64(n.deadline^w.now)) - 1) / slotBits
	s := (uint64(n.deadline) >> (l * slotBits)) & slotMask
	n.next = w.slots[l][s]
	w.slots[l][s] = n
	w.occupied[l] |= 1 << s
	w.count++
}

// next returns the earliest occupied slot: its first tick, level and index.
// ok is false when the wheel is empty. The first tick may be earlier than
// the deadlines of the slot's nodes (for l > 0), never later.
func (w *wheel) next() (at int64, level, slot int, ok bool) {
	now := uint64(w.now)
	for l := range numLevels {
		occ := w.occupied[l]
		if occ == 0 {
			continue
		}
		shift := uint(l * slotBits)
		cur := (now >> shift) & slotMask
		// Only slots after cur can be occupied (see the type comment); the
		// mask is belt and braces.
		occ &^= 2<<cur - 1
		if occ == 0 {
			continue
		}
		s := bits.TrailingZeros64(occ)
		base := now >> (shift + slotBits) << (shift + slotBits)
		return int64(base | uint64(s)<<shift), l, s, true
	}
	return 0, 0, 0, false
}

// advance processes every tick up to and including to: due nodes run in
// deadline order, stopped ones are discarded, and nodes of a higher-level
// slot whose first tick has come cascade down. It jumps straight from one
// occupied slot to the next, so a long sleep costs no per-tick work.
func (w *wheel) advance(to int64) {
	for {
		at, l, s, ok := w.next()
		if !ok || at > to {
			break
		}
		w.now = at
		list := w.slots[l][s]
		w.slots[l][s] = nil
		w.occupied[l] &^= 1 << s
		for list != nil {
			n := list
			list = n.next
			n.next = nil
			w.count--
			switch {
			case n.state.Load()&stateMask != statePending:
				w.recycle(n) // lazily cancelled: its slot has come
			case n.deadline <= at:
				w.fire(n)
			default:
				w.insert(n) // cascade
			}
		}
	}
	if to > w.now {
		w.now = to
	}
	if w.stoppedDue <= w.now {
		w.stoppedDue = noTarget
	}
}

// wakeAt returns the tick the wheel must next wake at: the first tick of
// the earliest occupied slot, or the stoppedDue deadline if earlier; noTarget
// when there is neither.
func (w *wheel) wakeAt() int64 {
	at, _, _, ok := w.next()
	if !ok {
		return w.stoppedDue
	}
	return min(at, w.stoppedDue)
}

// fireAll runs every filed node that is still pending, at once, whatever its
// deadline (Shutdown), and recycles them all.
func (w *wheel) fireAll() {
	for l := range w.slots {
		for s := range w.slots[l] {
			list := w.slots[l][s]
			w.slots[l][s] = nil
			for list != nil {
				n := list
				list = n.next
				n.next = nil
				w.fire(n) // recycles a stopped node without running it
			}
		}
		w.occupied[l] = 0
	}
	w.count = 0
	w.stoppedDue = noTarget
}

// clear drops every filed node without running it (Close). They are not
// recycled: their Handles may still be stopped, and would then report true.
func (w *wheel) clear() {
	w.flushFree()
	for l := range w.slots {
		for s := range w.slots[l] {
			w.slots[l][s] = nil
		}
		w.occupied[l] = 0
	}
	w.count = 0
	w.stoppedDue = noTarget
}

// fire runs n's task unless a Stop got there first, and recycles n. The
// node is recycled before the task runs so that the node's fields are no
// longer in use if the task schedules again.
func (w *wheel) fire(n *node) {
	t := n.task
	st := n.state.Load()
	won := st&stateMask == statePending && n.state.CompareAndSwap(st, st&^stateMask|stateFired)
	w.recycle(n)
	if won {
		t.Run()
	}
}

// recycle links n, whose task has run or been stopped, into the free chain
// (unless it is a TimerNode's).
// Its state (and so its generation) is kept: Stop on an old Handle keeps
// failing while the node is free and after it is reused.
func (w *wheel) recycle(n *node) {
	n.task = nil
	if n.owned {
		return // a TimerNode: its memory is its owner's
	}
	n.next = w.free
	w.free = n
	if w.freeLen++; w.freeLen == chainLen {
		w.flushFree()
	}
}

// flushFree hands the free chain to the call sites.
func (w *wheel) flushFree() {
	if w.free != nil {
		fullChains.Put(w.free)
		w.free, w.freeLen = nil, 0
	}
}
