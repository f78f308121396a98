package keyworker

import (
	"sync/atomic"
	"time"

	"github.com/regoresilience/rego/budget"
	"github.com/regoresilience/rego/hedge"
	"github.com/regoresilience/rego/policy"
)

// Snapshot is what call sites of one key read before each call: the effective
// policy and everything derived from it. It is immutable once published; a
// change publishes a new Snapshot.
type Snapshot struct {
	// Source identifies the policy version the snapshot was resolved from; the
	// owner compares it with its current source to know when to resolve again.
	Source  any
	Version uint64
	Policy  policy.Policy // normalized
	Pattern string        // the policy pattern that matched; "" = default

	// Trigger decides the hedge delay; nil when the policy does not hedge.
	Trigger hedge.Trigger
	// HedgeDelay is the delay in force. For a latency-aware trigger the worker
	// keeps it current from the key's latency tracker.
	HedgeDelay time.Duration

	// RetryBudget and HedgeBudget gate retries and hedges. Never nil: an
	// unlimited budget stands in when budgets are disabled.
	RetryBudget, HedgeBudget budget.Budget

	// Ext carries owner-defined data derived with the policy (the engine keeps
	// its classifier and fallback events here).
	Ext any
}

// needsSamples reports whether the snapshot's trigger learns from latencies.
func (s *Snapshot) needsSamples() bool {
	_, ok := s.Trigger.(hedge.Percentile)
	return ok
}

// Sample is one finished attempt, posted by a call site.
type Sample struct {
	Latency time.Duration
	OK      bool // the attempt succeeded
	Hedge   bool // the attempt was a hedge
}

func (s Sample) encode() uint64 {
	v := uint64(max(s.Latency, 0)) << 2
	if s.OK {
		v |= 2
	}
	if s.Hedge {
		v |= 1
	}
	return v
}

func decode(v uint64) Sample {
	return Sample{Latency: time.Duration(v >> 2), OK: v&2 != 0, Hedge: v&1 != 0}
}

// Worker is one key's actor. Call sites read its Snapshot, use its budgets and
// Post samples; they never wait for it.
//
// Ownership:
//   - snap is published by call sites (policy changes, with Publish) and by the
//     worker goroutine (hedge delay updates, with compare-and-swap so that a
//     concurrent policy change is never overwritten by a stale copy).
//   - mb, sleeping, used and the counters are atomics shared with call sites.
//   - tracker is owned by the worker goroutine alone; idleSweeps by the
//     pool's janitor goroutine alone.
type Worker struct {
	pool *Pool
	key  policy.Key

	snap atomic.Pointer[Snapshot]
	used atomic.Bool // set by call sites, cleared by the janitor's sweep
	// evicted is set by the janitor when it removes the worker from the
	// pool's map; a cached pointer to the worker is then ignored.
	evicted atomic.Bool

	// The key's own default budgets (nil when disabled).
	Retry, Hedge budget.Budget

	mb       atomic.Pointer[mailbox] // nil until a snapshot needs samples
	sleeping atomic.Bool             // the goroutine is parked and must be woken
	wake     chan struct{}           // 1-buffered
	stop     chan struct{}           // closed on eviction
	posted   atomic.Uint64
	dropped  atomic.Uint64

	tracker *hedge.Tracker // worker goroutine only

	idleSweeps uint8 // janitor sweeps in a row that found used clear; janitor goroutine only
}

// Key returns the key the worker serves.
func (w *Worker) Key() policy.Key { return w.key }

// Snapshot returns the published snapshot, or nil before the first Publish.
// One atomic load.
func (w *Worker) Snapshot() *Snapshot { return w.snap.Load() }

// Publish installs s as the key's snapshot. When s needs latency samples and the
// worker goroutine is not running yet, Publish starts it; when a latency-aware
// trigger was already in force, the learned delay carries over to s.
func (w *Worker) Publish(s *Snapshot) {
	for {
		old := w.snap.Load()
		if s.needsSamples() && old != nil && old.needsSamples() && old.Trigger == s.Trigger {
			s.HedgeDelay = old.HedgeDelay
		}
		if w.snap.CompareAndSwap(old, s) {
			break
		}
	}
	if s.needsSamples() && w.mb.Load() == nil {
		w.startTracking()
	}
}

// Post hands a finished attempt's sample to the worker. It never blocks: when
// the worker does not track latencies it does nothing, and when the mailbox is
// full the sample is dropped and counted.
func (w *Worker) Post(s Sample) bool {
	mb := w.mb.Load()
	if mb == nil {
		return false
	}
	pos, ok := mb.tryPush(s.encode())
	if !ok {
		w.dropped.Add(1)
		return false
	}
	w.posted.Add(1)
	// Wake a parked worker, and a lingering one every half mailbox, so that a hot
	// key is drained before its ring fills.
	if (w.sleeping.Load() && w.sleeping.CompareAndSwap(true, false)) || pos&(mb.mask>>1) == 0 {
		w.signal()
	}
	return true
}

// Stats are a worker's sample counters.
type Stats struct {
	Posted, Dropped uint64
}

// Stats returns the worker's sample counters.
func (w *Worker) Stats() Stats {
	return Stats{Posted: w.posted.Load(), Dropped: w.dropped.Load()}
}

func (w *Worker) touch() {
	if !w.used.Load() {
		w.used.Store(true)
	}
}

func (w *Worker) signal() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// Run is the worker's linger timer task (it runs on the wheel goroutine).
func (w *Worker) Run() { w.signal() }

// startTracking creates the mailbox and starts the goroutine, once.
func (w *Worker) startTracking() {
	mb := newMailbox(w.pool.cfg.MailboxSize)
	if !w.mb.CompareAndSwap(nil, mb) {
		return
	}
	if !w.pool.spawn(w.loop) {
		w.mb.Store(nil) // the pool is closed: nothing will drain it
	}
}

// loop is the worker goroutine. It is owned by the pool: it ends when the worker
// is evicted or the pool closes. It drains samples into the tracker and keeps the
// hedge delay current; between bursts it lingers one scheduler tick (posters need
// not wake it), and when a tick brings nothing it parks until a Post wakes it.
func (w *Worker) loop() {
	mb := w.mb.Load()
	for {
		if w.drain(mb) > 0 {
			w.pool.cfg.Scheduler.Schedule(w.pool.cfg.Scheduler.Tick(), w)
		} else {
			w.sleeping.Store(true)
			if !mb.empty() { // a Post raced with going to sleep
				w.sleeping.Store(false)
				continue
			}
		}
		select {
		case <-w.wake:
		case <-w.stop:
			return
		case <-w.pool.stop:
			return
		}
	}
}

// drain records every queued sample and republishes the hedge delay if it moved.
func (w *Worker) drain(mb *mailbox) int {
	now := w.pool.cfg.Clock.Now()
	n := 0
	for {
		v, ok := mb.pop()
		if !ok {
			break
		}
		n++
		if w.tracker == nil {
			t, err := hedge.NewTracker(w.pool.cfg.Tracker, now)
			if err != nil {
				continue // the pool validated the config; nothing sensible to do
			}
			w.tracker = t
		}
		w.tracker.Record(decode(v).Latency, now)
	}
	if n > 0 {
		w.republish(now)
	}
	return n
}

func (w *Worker) republish(now time.Time) {
	for {
		cur := w.snap.Load()
		if cur == nil || !cur.needsSamples() || w.tracker == nil {
			return
		}
		d := cur.Trigger.Delay(w.tracker, now)
		if d == cur.HedgeDelay {
			return
		}
		next := *cur
		next.HedgeDelay = d
		if w.snap.CompareAndSwap(cur, &next) {
			return
		}
	}
}
