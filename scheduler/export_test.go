package scheduler

import (
	"fmt"
	"time"
)

// White-box hooks for the tests. None of this is compiled into the package.

// NoTarget is the target published by a wheel with nothing filed.
const NoTarget = noTarget

// NewManual returns a Scheduler whose wheel goroutine is not started: the
// test goroutine stands in for it by calling Step.
func NewManual(opts ...Option) (*Scheduler, error) { return newScheduler(opts...) }

// Step runs one turn of the wheel synchronously: it drains the mailbox and
// runs every task due by the clock's now (advanceTo(now)), and returns the
// tick the wheel would sleep until.
func (s *Scheduler) Step() int64 { return s.step() }

// WheelNow returns the last tick the wheel processed. Only the goroutine
// driving the wheel may call it (a task, or the Step caller).
func (s *Scheduler) WheelNow() int64 { return s.w.now }

// Filed returns how many nodes sit in slots, stopped ones included.
func (s *Scheduler) Filed() int { return s.w.count }

// PushAt schedules t at an explicit tick, bypassing the clock (to test
// deadlines the wheel has already passed).
func (s *Scheduler) PushAt(due int64, t Task) Handle { return s.push(due, t) }

// Target returns the published wake target.
func (s *Scheduler) Target() int64 { return s.target.Load() }

// CheckWheel verifies the wheel's structural invariants (see the wheel type
// comment). Only the goroutine driving the wheel may call it.
func (s *Scheduler) CheckWheel() error {
	w := &s.w
	count := 0
	now := uint64(w.now)
	for l := range numLevels {
		shift := uint(l * slotBits)
		for sl := range slotsPerLevel {
			head := w.slots[l][sl]
			if (head != nil) != (w.occupied[l]&(1<<sl) != 0) {
				return fmt.Errorf("level %d slot %d: occupancy bit disagrees with list", l, sl)
			}
			if head == nil {
				continue
			}
			if cur := int((now >> shift) & slotMask); sl <= cur {
				return fmt.Errorf("level %d slot %d occupied at or before current digit %d (now %d)", l, sl, cur, w.now)
			}
			for n := head; n != nil; n = n.next {
				count++
				d := uint64(n.deadline)
				if n.deadline <= w.now {
					return fmt.Errorf("level %d slot %d: deadline %d not after now %d", l, sl, n.deadline, w.now)
				}
				if int((d>>shift)&slotMask) != sl {
					return fmt.Errorf("level %d slot %d: deadline %d has digit %d", l, sl, n.deadline, (d>>shift)&slotMask)
				}
				if hi := shift + slotBits; hi < 64 && d>>hi != now>>hi {
					return fmt.Errorf("level %d slot %d: deadline %d differs from now %d above the level", l, sl, n.deadline, w.now)
				}
			}
		}
	}
	if count != w.count {
		return fmt.Errorf("count %d, found %d nodes", w.count, count)
	}
	return nil
}

// SameNode reports whether two handles were issued for the same pooled node.
func SameNode(a, b Handle) bool { return a.n != nil && a.n == b.n }

// StoppedDue returns the deadline kept for nodes discarded from the mailbox.
func (s *Scheduler) StoppedDue() int64 { return s.w.stoppedDue }

// PushReused schedules t at tick due on the node the wheel recycled last
// (the head of its free chain), as getNode does when handed that chain.
// Call it from a task: the wheel recycles a node just before running its
// task, so this reuses the running task's own node, deterministically.
func (s *Scheduler) PushReused(due int64, t Task) Handle {
	n := s.w.free
	s.w.free, s.w.freeLen = n.next, s.w.freeLen-1
	n.next = nil
	return s.enqueue(n, n.claim(), due, t)
}

// SetBeforePublish installs f to run in Step just before the wheel
// publishes its wake target (while call sites still read it as awake).
func (s *Scheduler) SetBeforePublish(f func()) { s.beforePublish = f }

// Polling reports whether the wheel says it polls (see step).
func (s *Scheduler) Polling() bool { return s.polling.Load() }

// ScheduleCoarse schedules t coarsely on a pooled node (see
// ScheduleCoarseNode).
func (s *Scheduler) ScheduleCoarse(d time.Duration, t Task) Handle {
	h, _ := s.tryScheduleCoarse(d, t)
	return h
}

// TryScheduleCoarse is ScheduleCoarse with TrySchedule's errors.
func (s *Scheduler) TryScheduleCoarse(d time.Duration, t Task) (Handle, error) {
	return s.tryScheduleCoarse(d, t)
}

// TryScheduleAt is ScheduleAt with TrySchedule's errors.
func (s *Scheduler) TryScheduleAt(at time.Time, t Task) (Handle, error) {
	return s.tryScheduleAt(at, t)
}
