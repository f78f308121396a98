package scheduler

import (
	"runtime"
	"time"
)

// push publishes a new node due at tick due in the mailbox and wakes the
// wheel goroutine if it might otherwise sleep past due.
//
// The wake-up protocol pairs with step: a call site pushes, then reads
// target; the wheel publishes target, then re-reads head before it sleeps.
// Both are sequentially consistent atomics, so either the wheel sees the
// node or the call site sees the target the wheel is about to sleep
// towards and wakes it if due is earlier. While the wheel is awake target
// is 0, which no deadline is below, so a busy wheel costs call sites no
// channel operation.
func (s *Scheduler) push(due int64, t Task) Handle {
	n, gen := getNode()
	return s.enqueue(n, gen, due, t)
}

// enqueue is push for a node the caller has claimed.
func (s *Scheduler) enqueue(n *node, gen uint64, due int64, t Task) Handle {
	n.task = t
	n.deadline = due
	for {
		old := s.head.Load()
		n.next = old
		if s.head.CompareAndSwap(old, n) {
			break
		}
	}
	// The batch wake-up is paced by the node's generation (each node
	// triggers one wake-up every wakeBatch uses, so pushes do too, on
	// average) rather than by a shared count of pushes, which every call
	// site would have to write. Fresh nodes start at staggered generations
	// (newChain), so a burst of them triggers wake-ups too.
	if gen%wakeBatch == 0 {
		select {
		case s.wake <- struct{}{}:
		default:
			// The last wake-up is still unconsumed: the wheel goroutine has
			// not run for a whole batch, typically because every P is busy
			// with call sites that never block. Yield this P to it, or the
			// mailbox (and the nodes it holds) grows until the next
			// preemption. Backpressure, never a wait.
			runtime.Gosched()
		}
	} else if s.lowerTarget(due) {
		// Lowering target first means only the call site that moves it
		// sends: a burst of earlier timers costs one wake-up.
		s.signal()
	}
	return Handle{n: n, gen: gen}
}

// signal wakes the wheel goroutine without blocking. The channel has room
// for one token, so a wake-up sent while the wheel is busy is kept for its
// next sleep, and further ones coalesce.
func (s *Scheduler) signal() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// drain takes the whole mailbox with one swap and files its nodes.
func (s *Scheduler) drain() {
	n := s.head.Swap(nil)
	for n != nil {
		next := n.next
		n.next = nil
		s.w.file(n)
		n = next
	}
}

// step is one turn of the wheel goroutine: it marks itself awake, empties
// the mailbox, runs everything due by the clock's now, and publishes the
// tick it will next wake at (noTarget when nothing is filed), which it
// returns. It may then sleep until that tick or a wake-up token.
func (s *Scheduler) step() int64 {
	s.target.Store(0)
	s.drain()
	s.w.advance(s.nowTick())
	next := s.w.wakeAt()
	if s.beforePublish != nil {
		s.beforePublish()
	}
	s.target.Store(next)
	// Call sites that pushed while target read 0 did not wake us, so their
	// nodes must be filed before we sleep. They are all in the mailbox by
	// now, and every later push sees next: it either wakes us or is due no
	// earlier than next, when we look anyway. So one more drain leaves
	// nothing unaccounted for, however fast call sites push, and the wheel
	// never spins on a busy mailbox.
	if s.head.Load() != nil {
		s.drain()
		if at := s.w.wakeAt(); at < next {
			next = at
			s.lowerTarget(at)
		}
	}
	s.w.flushFree() // do not sit on free nodes while asleep
	return next
}

// lowerTarget moves target down to at unless it is already lower (a call
// site may have lowered it and sent a wake-up meanwhile).
func (s *Scheduler) lowerTarget(at int64) bool {
	for {
		cur := s.target.Load()
		if at >= cur {
			return false
		}
		if s.target.CompareAndSwap(cur, at) {
			return true
		}
	}
}

// run is the wheel goroutine. It sleeps on a clock timer (so a FakeClock or
// a synctest bubble drives it) and on the wake channel, never on a spin,
// and with nothing filed it sleeps on the wake channel alone.
func (s *Scheduler) run() {
	defer close(s.exited)
	var (
		timer Timer // created on first use, then Reset
		armed bool
	)
	for {
		next := s.step()
		var fired <-chan time.Time
		if next == noTarget {
			if armed {
				timer.Stop()
				armed = false
			}
		} else {
			d := maxDelay
			if next <= int64(maxDelay/s.tick) {
				d = time.Duration(next)*s.tick - s.elapsed()
			}
			if timer == nil {
				timer = s.clock.NewTimer(d)
			} else {
				timer.Reset(d)
			}
			armed = true
			fired = timer.C()
		}
		select {
		case <-fired:
			armed = false
		case <-s.wake:
		case <-s.done:
			if armed {
				timer.Stop()
			}
			if s.runOnClose.Load() {
				s.drain()
				s.w.fireAll()
			}
			s.w.clear()
			s.head.Store(nil)
			return
		}
	}
}
