package scheduler

import (
	"sync"
	"sync/atomic"
)

// A node's state word packs a generation counter (high 62 bits) with one of
// the states below (low 2 bits). Packing both into one atomic word is what
// makes Handle.Stop ABA-safe: a Handle remembers the generation it was issued
// for, and a recycled node has moved on to a later generation, so a stale
// Stop's compare-and-swap can never match it.
const (
	stateFree    uint64 = 0 // never scheduled (a free node keeps its last state)
	statePending uint64 = 1 // scheduled: the only state Stop or the wheel may leave
	stateFired   uint64 = 2 // the wheel won: the task ran (or is running)
	stateStopped uint64 = 3 // Stop won: the task will never run

	stateMask = 3
	genShift  = 2
)

// node is one scheduled timer. Nodes are pooled and reused; see doc.go for
// their lifecycle.
//
// Ownership: state is shared (call sites CAS it in Stop, the wheel CASes it
// when firing). Every other field is owned by whoever holds the node
// exclusively: a free chain's holder, then the scheduling call site until
// its mailbox push publishes the node, then the wheel goroutine until it
// links the node into its free chain.
type node struct {
	state atomic.Uint64
	// deadline is in ticks since the scheduler's start, except in a
	// relative node (rel) still in the mailbox, where it is the delay in
	// nanoseconds: the wheel goroutine turns it into a deadline when it
	// takes the node.
	deadline int64
	next     *node // free-chain link, then mailbox link, then slot-list link
	task     Task
	rel      bool // deadline is a delay from when the wheel takes the node
	coarse   bool // scheduled by ScheduleCoarseNode: keeps the wheel polling
	owned    bool // a TimerNode's: the caller owns its memory, the pools never see it
}

// Free nodes travel in chains (linked through next) held in two pools:
//
//   - localChains holds, per P, the chain call sites on that P take nodes
//     from: Get, unlink the head, Put the rest back. Both usually hit the
//     P's private slot, so taking a node costs no shared-memory traffic.
//   - fullChains holds chains of nodes the wheel goroutine has finished
//     with. A call site whose local chain ran out takes one (usually a
//     steal from the wheel goroutine's P): one cross-P operation per
//     chainLen nodes instead of one per node.
//
// The pools are shared by every Scheduler: a node carries no reference to
// its scheduler. Both hold *node, which is pointer-shaped, so Put does not
// allocate.
var localChains, fullChains sync.Pool

// chainLen is the length of the chains the wheel hands back, and of the
// chains allocated when the pools are empty.
const chainLen = 64

// getNode returns an exclusively owned node whose generation is fresh,
// marked pending.
func getNode() (*node, uint64) {
	var n *node
	if v := localChains.Get(); v != nil {
		n = v.(*node)
	} else if v := fullChains.Get(); v != nil {
		n = v.(*node)
	} else {
		n = newChain()
	}
	if rest := n.next; rest != nil {
		n.next = nil
		localChains.Put(rest)
	}
	return n, n.claim()
}

// claim starts a new generation on a free node the caller owns, marks it
// pending, and returns the generation.
func (n *node) claim() uint64 {
	gen := n.state.Load()>>genShift + 1
	n.state.Store(gen<<genShift | statePending)
	return gen
}

// newChain allocates chainLen nodes, one allocation each (not one slab, so
// that a long-lived timer keeps only its own node reachable). Their
// generations are staggered so that one node in each fresh chain triggers
// a batch wake-up on its first use (see push).
func newChain() *node {
	var head *node
	for i := range chainLen {
		n := &node{next: head}
		n.state.Store(uint64(wakeBatch-1+i*(wakeBatch/chainLen))<<genShift | stateFree)
		head = n
	}
	return head
}

// Handle identifies one scheduled task. It is a small value (a node pointer
// and a generation), copied freely and compared with ==. The zero Handle
// refers to no task: its Stop returns false.
type Handle struct {
	n   *node
	gen uint64
}

// Stop cancels the task if it has neither run nor been stopped, in O(1) and
// without allocating: it flips the node's state and leaves the node where it
// is; the wheel discards it when it comes across it. Stop reports whether
// this call prevented the run; it returns false when the task already ran
// (or is running), when it was stopped before, and for the zero Handle.
// Stop on a Handle whose node has since been reused for another task is a
// safe no-op returning false. Stop never waits for a running task.
func (h Handle) Stop() bool {
	if h.n == nil {
		return false
	}
	return h.n.state.CompareAndSwap(h.gen<<genShift|statePending, h.gen<<genShift|stateStopped)
}

// TimerNode is a timer node the caller owns, for one task scheduled once: embedded
// in a struct the caller allocates anyway, it spares ScheduleCoarseNode the
// trip through the Scheduler's node pools (and the cache misses of a node
// last touched by the wheel goroutine). The zero TimerNode is ready to use; a
// TimerNode must not be copied after it is scheduled, and cannot be scheduled
// again.
//
// The wheel goroutine keeps a pointer to the TimerNode until it has run its task
// or come across it stopped (as it keeps a pooled node), so the struct
// holding it stays reachable until then, at most until the deadline.
type TimerNode struct{ n node }

// nodeGen is the generation of a scheduled TimerNode: it is claimed once, from
// the zero state.
const nodeGen = 1

// Stop cancels the TimerNode's task if it has neither run nor been stopped, as
// Handle.Stop does. It returns false for a TimerNode never scheduled.
func (o *TimerNode) Stop() bool {
	return o.n.state.CompareAndSwap(nodeGen<<genShift|statePending, nodeGen<<genShift|stateStopped)
}
