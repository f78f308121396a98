package keyworker

import (
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
)

// TestMailboxFIFO verifies order, the full condition and slot reuse across laps.
func TestMailboxFIFO(t *testing.T) {
	m := newMailbox(4)
	for lap := uint64(0); lap < 3; lap++ {
		for i := uint64(0); i < 4; i++ {
			if _, ok := m.tryPush(lap*10 + i); !ok {
				t.Fatalf("lap %d: push %d refused", lap, i)
			}
		}
		if _, ok := m.tryPush(99); ok {
			t.Fatal("push into a full mailbox accepted")
		}
		for i := uint64(0); i < 4; i++ {
			if v, ok := m.pop(); !ok || v != lap*10+i {
				t.Fatalf("lap %d: pop = %d, %v; want %d", lap, v, ok, lap*10+i)
			}
		}
		if !m.empty() {
			t.Fatal("mailbox not empty after draining")
		}
	}
}

// TestMailboxConcurrent verifies that under concurrent producers every accepted
// value is popped exactly once (conservation: accepted = popped, no duplicates).
func TestMailboxConcurrent(t *testing.T) {
	m := newMailbox(64)
	const producers, each = 4, 5000
	var accepted atomic.Int64
	var wg sync.WaitGroup
	for p := range producers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				if _, ok := m.tryPush(uint64(p*each + i)); ok {
					accepted.Add(1)
				}
			}
		}()
	}
	finished := make(chan struct{})
	go func() { wg.Wait(); close(finished) }()
	seen := make(map[uint64]bool)
	for {
		v, ok := m.pop()
		if ok {
			if seen[v] {
				t.Fatalf("value %d popped twice", v)
			}
			seen[v] = true
			continue
		}
		select {
		case <-finished:
			for v, ok := m.pop(); ok; v, ok = m.pop() {
				seen[v] = true
			}
			if int64(len(seen)) != accepted.Load() {
				t.Fatalf("popped %d, accepted %d", len(seen), accepted.Load())
			}
			return
		default:
			runtime.Gosched()
		}
	}
}
