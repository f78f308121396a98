package keyworker

import "sync/atomic"

// mailbox is a bounded lock-free multi-producer, single-consumer ring (Dmitry
// Vyukov's bounded MPMC queue, used with one consumer). Producers are call sites:
// tryPush never waits and fails when the ring is full. The consumer is the key's
// worker goroutine, the only one that touches tail.
//
// Slots are not padded to cache lines: a key's mailbox is small (16 bytes a slot)
// so that thousands of keys stay cheap; producers of one key contend on head
// anyway.
type mailbox struct {
	head  atomic.Uint64 // next position to fill; shared by producers
	_     [56]byte      // keep the consumer's tail off the producers' line
	tail  uint64        // next position to read; owned by the consumer
	mask  uint64
	slots []slot
}

type slot struct {
	seq atomic.Uint64 // == pos: free for the producer of pos; == pos+1: filled
	val uint64
}

func newMailbox(size int) *mailbox {
	m := &mailbox{mask: uint64(size - 1), slots: make([]slot, size)}
	for i := range m.slots {
		m.slots[i].seq.Store(uint64(i))
	}
	return m
}

// tryPush appends v; false when the ring is full. pos is the position taken.
func (m *mailbox) tryPush(v uint64) (pos uint64, ok bool) {
	pos = m.head.Load()
	for {
		s := &m.slots[pos&m.mask]
		switch dif := int64(s.seq.Load() - pos); {
		case dif == 0:
			if m.head.CompareAndSwap(pos, pos+1) {
				s.val = v
				s.seq.Store(pos + 1) // publishes val to the consumer
				return pos, true
			}
			pos = m.head.Load()
		case dif < 0:
			return pos, false
		default:
			pos = m.head.Load()
		}
	}
}

// pop takes the oldest value; false when nothing is ready. Consumer only.
func (m *mailbox) pop() (uint64, bool) {
	s := &m.slots[m.tail&m.mask]
	if s.seq.Load() != m.tail+1 {
		return 0, false
	}
	v := s.val
	s.seq.Store(m.tail + m.mask + 1) // frees the slot for the next lap
	m.tail++
	return v, true
}

// empty reports whether the next slot is unfilled. Consumer only.
func (m *mailbox) empty() bool {
	return m.slots[m.tail&m.mask].seq.Load() != m.tail+1
}
