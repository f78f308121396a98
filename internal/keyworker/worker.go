package keyworker

import (
	"sync/atomic"
	"time"

	"github.com/regoresilience/rego/budget"
	"github.com/regoresilience/rego/hedge"
	"github.com/regoresilience/rego/policy"
)

// Learned is a hedge delay the worker goroutine learned from the key's
// latencies, and the trigger it was computed with. A reader whose policy
// asks for another trigger ignores it (the worker catches up on its next
// drain).
type Learned struct {
	Trigger hedge.Percentile
	Delay   time.Duration
}

// Worker is one key's actor. S is the owner's per-key snapshot type (the
// engine's resolved policy): the worker stores it and never looks inside.
// Call sites read the snapshot, use the key's budgets and Post latencies;
// they never wait for the worker.
//
// Ownership:
//   - snap is written by call sites (Publish on a policy change) and read by
//     call sites. The worker goroutine never touches it.
//   - trigger is written by call sites (Track) and read by the worker
//     goroutine; learned is written by the worker goroutine only and read by
//     call sites. So each atomic has one kind of writer, and a policy change
//     and a learned delay never need merging.
//   - mb, sleeping, used and the counters are atomics shared with call sites.
//   - tracker is owned by the worker goroutine alone; idleSweeps by the
//     pool's janitor goroutine alone.
type Worker[S any] struct {
	pool *Pool[S]
	key  policy.Key

	snap atomic.Pointer[S]
	used atomic.Bool // set by call sites, cleared by the janitor's sweep
	// evicted is set by the janitor when it removes the worker from the
	// pool's map; a cached pointer to the worker is then ignored.
	evicted atomic.Bool

	// The key's own default budgets (nil when disabled). Written before the
	// worker is published in the pool's map; read-only after.
	retry, hedge budget.Budget

	trigger atomic.Pointer[hedge.Percentile] // the trigger to learn for; nil until Track
	learned atomic.Pointer[Learned]          // nil until the first drain

	mb       atomic.Pointer[mailbox] // nil until Track
	sleeping atomic.Bool             // the goroutine is parked and must be woken
	wake     chan struct{}           // 1-buffered
	stop     chan struct{}           // closed on eviction
	posted   atomic.Uint64
	dropped  atomic.Uint64

	tracker *hedge.Tracker // worker goroutine only

	idleSweeps uint8 // janitor sweeps in a row that found used clear; janitor goroutine only
}

// Key returns the key the worker serves.
func (w *Worker[S]) Key() policy.Key { return w.key }

// Budgets returns the key's own default budgets; either is nil when its
// kind is disabled (Config.Budgets).
func (w *Worker[S]) Budgets() (retry, hedge budget.Budget) { return w.retry, w.hedge }

// Snapshot returns the published snapshot, or nil before the first Publish.
// One atomic load.
func (w *Worker[S]) Snapshot() *S { return w.snap.Load() }

// Publish installs s as the key's snapshot. Racing publishers of equivalent
// snapshots may overwrite each other; the last one stays.
func (w *Worker[S]) Publish(s *S) { w.snap.Store(s) }

// Track makes the worker learn the hedge delay of trigger t from the
// latencies posted from now on, starting its goroutine on first use. A
// Learned computed for another trigger is replaced at the next drain.
func (w *Worker[S]) Track(t hedge.Percentile) {
	if cur := w.trigger.Load(); cur == nil || *cur != t {
		w.trigger.Store(&t)
		w.signal() // recompute the delay for t without waiting for a sample
	}
	if w.mb.Load() == nil {
		w.startTracking()
	}
}

// LearnedDelay returns the hedge delay learned for trigger t; false when
// nothing was learned for t yet. One atomic load.
func (w *Worker[S]) LearnedDelay(t hedge.Percentile) (time.Duration, bool) {
	if l := w.learned.Load(); l != nil && l.Trigger == t {
		return l.Delay, true
	}
	return 0, false
}

// Post hands a finished attempt's latency to the worker. It never blocks:
// when the worker does not Track it does nothing, and when the mailbox is
// full the sample is dropped and counted.
func (w *Worker[S]) Post(latency time.Duration) bool {
	mb := w.mb.Load()
	if mb == nil {
		return false
	}
	pos, ok := mb.tryPush(uint64(max(latency, 0)))
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
func (w *Worker[S]) Stats() Stats {
	return Stats{Posted: w.posted.Load(), Dropped: w.dropped.Load()}
}

func (w *Worker[S]) touch() {
	if !w.used.Load() {
		w.used.Store(true)
	}
}

func (w *Worker[S]) signal() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// Run is the worker's linger timer task (it runs on the wheel goroutine).
func (w *Worker[S]) Run() { w.signal() }

// startTracking creates the mailbox and starts the goroutine, once.
func (w *Worker[S]) startTracking() {
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
// learned delay current; between bursts it lingers one scheduler tick (posters need
// not wake it), and when a tick brings nothing it parks until a Post wakes it.
func (w *Worker[S]) loop() {
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

// drain records every queued latency and publishes the learned delay if it
// moved or the trigger changed.
func (w *Worker[S]) drain(mb *mailbox) int {
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
		w.tracker.Record(time.Duration(v), now)
	}
	w.learn(now)
	return n
}

// learn publishes the delay the current trigger computes from the tracker,
// when it differs from the published one.
func (w *Worker[S]) learn(now time.Time) {
	t := w.trigger.Load()
	if t == nil || w.tracker == nil {
		return
	}
	d := t.Delay(w.tracker, now)
	if l := w.learned.Load(); l != nil && l.Trigger == *t && l.Delay == d {
		return
	}
	w.learned.Store(&Learned{Trigger: *t, Delay: d})
}
