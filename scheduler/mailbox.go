package scheduler

import (
	"math/rand/v2"
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
	n.coarse = false
	return s.enqueue(n, gen, due, t)
}

// enqueue is push for a node the caller has claimed and marked coarse or
// not.
func (s *Scheduler) enqueue(n *node, gen uint64, due int64, t Task) Handle {
	n.task, n.deadline, n.rel = t, due, false
	s.pushNode(n)
	if !s.batchWake(n, gen) && s.lowerTarget(due) {
		// Lowering target first means only the call site that moves it
		// sends: a burst of earlier timers costs one wake-up.
		s.signal()
	}
	return Handle{n: n, gen: gen}
}

// enqueueAfter is enqueue for a relative node, due d after the wheel
// goroutine takes it. The caller saw the wheel polling. If it stopped
// polling since, it may be going to sleep for long: wake it. (It stores
// polling, then reads the mailbox; this pushes, then reads polling. So
// either it sees the node before it sleeps, or this sees it stopped.)
func (s *Scheduler) enqueueAfter(n *node, gen uint64, d time.Duration, t Task) Handle {
	n.task, n.deadline, n.rel = t, int64(min(d, maxDelay)), true
	s.pushNode(n)
	if !s.batchWake(n, gen) && !s.polling.Load() {
		s.signal()
	}
	return Handle{n: n, gen: gen}
}

func (s *Scheduler) pushNode(n *node) {
	for {
		old := s.head.Load()
		n.next = old
		if s.head.CompareAndSwap(old, n) {
			return
		}
	}
}

// batchWake wakes the wheel goroutine on about one push in wakeBatch, and
// reports whether this push was one.
//
// The batch wake-up is paced by the node's generation (each node triggers
// one wake-up every wakeBatch uses, so pushes do too, on average) rather
// than by a shared count of pushes, which every call site would have to
// write. Fresh nodes start at staggered generations (newChain), so a burst
// of them triggers wake-ups too.
func (s *Scheduler) batchWake(n *node, gen uint64) bool {
	if s.noBatch {
		return false // a simulation's PollingClock: see noBatch
	}
	if n.owned {
		// A TimerNode is used once, so its generation paces nothing: roll a die.
		gen = rand.Uint64()
	}
	if gen%wakeBatch != 0 {
		return false
	}
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
	return true
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

// drain takes the whole mailbox with one swap and files its nodes. It
// reports whether any was scheduled by ScheduleCoarseNode.
//
// A relative node gets its deadline here, counted from a clock read made
// after the swap: every node taken was pushed before it, so none runs
// early.
func (s *Scheduler) drain() (coarse bool) {
	n := s.head.Swap(nil)
	now := time.Duration(-1) // read on the first relative node
	for n != nil {
		next := n.next
		n.next = nil
		coarse = coarse || n.coarse
		if n.rel {
			if now < 0 {
				now = s.elapsed()
			}
			n.deadline, n.rel = s.dueAfter(now, time.Duration(n.deadline)), false
		}
		s.w.file(n)
		n = next
	}
	return coarse
}

// step is one turn of the wheel goroutine: it marks itself awake, empties
// the mailbox, runs everything due by the clock's now, and publishes the
// tick it will next wake at (noTarget when nothing is filed), which it
// returns. It may then sleep until that tick or a wake-up token.
//
// While call sites keep using ScheduleCoarseNode (the mailbox held such a
// node), the wheel polls: it wakes at the next tick even with nothing due,
// and says so in polling, so that those call sites can push relative nodes
// (see scheduleCoarse), which only a wheel that looks at the mailbox every
// tick can time correctly. The first turn a whole tick after the last such
// node stops polling, so an idle wheel still sleeps until its next
// deadline. Only the system clock (and a PollingClock that asks for it)
// polls: under a FakeClock, when the wheel takes a node depends on
// goroutine scheduling, and a test's Advance must not.
func (s *Scheduler) step() int64 {
	s.target.Store(0)
	coarse := s.drain()
	s.w.advance(s.nowTick())
	if coarse {
		s.coarseAt = s.w.now
	}
	// Stop polling only after a whole tick without coarse nodes: a turn
	// that finds the mailbox empty because the last one just emptied it
	// says nothing about the traffic.
	poll := s.poll && s.w.now-s.coarseAt <= 1
	next := s.w.wakeAt()
	if poll {
		next = min(next, s.w.now+1)
	}
	if s.beforePublish != nil {
		s.beforePublish()
	}
	s.polling.Store(poll)
	s.target.Store(next)
	// Call sites that pushed while target read 0 (or polling true) did not
	// wake us, so their nodes must be filed before we sleep. They are all
	// in the mailbox by now, and every later push sees next and polling:
	// it either wakes us or is due no earlier than next, when we look
	// anyway. So one more drain leaves nothing unaccounted for, however
	// fast call sites push, and the wheel never spins on a busy mailbox.
	if s.head.Load() != nil {
		coarse := s.drain()
		at := s.w.wakeAt()
		if coarse && s.poll {
			s.coarseAt = s.w.now
			at = min(at, s.w.now+1)
			s.polling.Store(true)
		}
		if at < next {
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
