package keyworker

import (
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/puzpuzpuz/xsync/v3"

	"github.com/regoresilience/rego/budget"
	"github.com/regoresilience/rego/hedge"
	"github.com/regoresilience/rego/policy"
	"github.com/regoresilience/rego/scheduler"
)

// Defaults for Config fields left zero.
const (
	DefaultMaxKeys     = 10_000
	DefaultIdleTimeout = 5 * time.Minute
	DefaultMailboxSize = 64
)

// DefaultTracker is the latency tracker of a key with latency-aware hedging:
// three 10 s windows, 10µs..10s at 2 significant figures (the wheel fires at
// 1 ms ticks, so finer resolution buys nothing). Latencies past 10 s
// count as 10 s: a hedge delay that long helps nobody, and the smaller range
// keeps a hedged key within its 64 KiB (see TestMemoryPerKey).
var DefaultTracker = hedge.TrackerConfig{Window: 10 * time.Second, Windows: 3, Min: 10 * time.Microsecond, Max: 10 * time.Second, SigFigs: 2}

// ErrInvalidConfig is wrapped by every error NewPool returns.
var ErrInvalidConfig = errors.New("keyworker: invalid config")

// OverflowKey is the key of the shared worker that serves keys past MaxKeys.
var OverflowKey = policy.Key{Namespace: "rego", Name: "overflow"}

// Config configures a Pool.
type Config struct {
	Scheduler   *scheduler.Scheduler // required: drives the workers' linger timers
	Clock       scheduler.Clock      // required: the scheduler's clock
	MaxKeys     int                  // distinct keys with their own worker; default DefaultMaxKeys
	IdleTimeout time.Duration        // a key unused this long is evicted; default DefaultIdleTimeout
	MailboxSize int                  // samples a worker buffers, a power of two; default DefaultMailboxSize
	Tracker     hedge.TrackerConfig  // latency tracker of keys with latency-aware hedging
	// Budgets builds a key's own default budgets, both at once so that they
	// may share state (budget.NewRatioPair). A nil func, or a nil budget,
	// disables that kind (Worker.Budgets returns nil for it).
	Budgets func() (retry, hedge budget.Budget)
	Logger  *slog.Logger // the one-off overflow warning; default slog.Default()
}

// Pool owns the key workers: it creates them on first use through a lock-free
// map, caps how many keys get their own worker, and evicts idle ones. S is
// the owner's per-key snapshot type (see Worker).
//
// Goroutines: one janitor (evicts idle keys; parks while the pool is empty) and
// one per key whose policy needs latency samples. All are owned by the pool and
// end on Close, which waits for them.
type Pool[S any] struct {
	cfg      Config
	workers  *xsync.MapOf[policy.Key, *Worker[S]]
	count    atomic.Int64 // workers in the map (may briefly overshoot by racing creators)
	overflow *Worker[S]
	warned   atomic.Bool // the overflow warning was logged

	stop     chan struct{}
	janitorC chan struct{} // 1-buffered: a key was created
	mu       sync.Mutex    // guards closed and wg.Add against Close's wg.Wait
	closed   bool
	wg       sync.WaitGroup

	// cache is a two-way set-associative cache in front of the map, indexed
	// by the addresses of the key's string data (see cacheSet). A hit costs
	// a load or two and a string comparison instead of hashing both
	// strings; a miss falls back to the map and fills a slot of the set (two
	// ways, so that two hot keys whose addresses collide do not evict each
	// other on every call). Call sites load and store slots; the janitor
	// clears slots holding evicted workers, so an evicted key's state is not
	// kept alive by the cache. A slot may hold a stale or evicted worker at
	// any time: a hit is checked against both.
	cache [cacheSlots]atomic.Pointer[Worker[S]]

	// beforeCacheStore, when set by a test before the pool is used, runs in
	// Lookup between the map load and the cache store: where an eviction
	// can slip in. Read-only after the test sets it.
	beforeCacheStore func(*Worker[S])
}

// cacheSlots is the size of Pool.cache: 4 KiB of pointers, in sets of two.
const (
	cacheBits  = 9
	cacheSlots = 1 << cacheBits
)

// cacheSet returns the index of the first of key's two slots in the cache.
// It hashes where the key's strings live, not what they hold: a program that
// builds its keys once (a package variable, ParseKey at start-up) passes the
// same string data on every call, and hashing two pointers is far cheaper
// than hashing the bytes. Keys built anew per call land on varying sets;
// each set learns the worker on its first miss, which costs only the map
// lookup the call would have made anyway. Correctness never depends on the
// set: a hit compares the keys by value.
func cacheSet(k policy.Key) uint64 {
	a := uint64(uintptr(unsafe.Pointer(unsafe.StringData(k.Namespace))))
	b := uint64(uintptr(unsafe.Pointer(unsafe.StringData(k.Name))))
	h := (a^uint64(len(k.Namespace)))*0x9E3779B97F4A7C15 ^ (b+uint64(len(k.Name)))*0xC2B2AE3D27D4EB4F
	return h >> (64 - cacheBits) &^ 1
}

// NewPool validates cfg and starts the janitor.
func NewPool[S any](cfg Config) (*Pool[S], error) {
	if cfg.Scheduler == nil || cfg.Clock == nil {
		return nil, fmt.Errorf("%w: a scheduler and its clock are required", ErrInvalidConfig)
	}
	if cfg.MaxKeys == 0 {
		cfg.MaxKeys = DefaultMaxKeys
	}
	if cfg.IdleTimeout == 0 {
		cfg.IdleTimeout = DefaultIdleTimeout
	}
	if cfg.MailboxSize == 0 {
		cfg.MailboxSize = DefaultMailboxSize
	}
	if cfg.Tracker == (hedge.TrackerConfig{}) {
		cfg.Tracker = DefaultTracker
	}
	switch {
	case cfg.MaxKeys < 0:
		return nil, fmt.Errorf("%w: MaxKeys %d is negative", ErrInvalidConfig, cfg.MaxKeys)
	case cfg.IdleTimeout < 0:
		return nil, fmt.Errorf("%w: IdleTimeout %v is negative", ErrInvalidConfig, cfg.IdleTimeout)
	case cfg.MailboxSize < 2 || cfg.MailboxSize > 1<<16 || cfg.MailboxSize&(cfg.MailboxSize-1) != 0:
		return nil, fmt.Errorf("%w: MailboxSize %d must be a power of two in [2, 65536]", ErrInvalidConfig, cfg.MailboxSize)
	}
	if _, err := hedge.NewTracker(cfg.Tracker, cfg.Clock.Now()); err != nil {
		return nil, fmt.Errorf("%w: tracker: %w", ErrInvalidConfig, err)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	p := &Pool[S]{
		cfg:      cfg,
		workers:  xsync.NewMapOf[policy.Key, *Worker[S]](),
		stop:     make(chan struct{}),
		janitorC: make(chan struct{}, 1),
	}
	p.overflow = p.newWorker(OverflowKey)
	p.spawn(p.janitor)
	return p, nil
}

func (p *Pool[S]) newWorker(key policy.Key) *Worker[S] {
	w := &Worker[S]{pool: p, key: key, wake: make(chan struct{}, 1), stop: make(chan struct{})}
	if p.cfg.Budgets != nil {
		w.retry, w.hedge = p.cfg.Budgets()
	}
	w.used.Store(true)
	return w
}

// Lookup returns key's worker if it has one; it never creates one. The hit
// path is a cache load or two and a key comparison, else one lock-free map
// load.
func (p *Pool[S]) Lookup(key policy.Key) (*Worker[S], bool) {
	set := p.cache[cacheSet(key):][:2]
	for i := range set {
		if w := set[i].Load(); w != nil && w.key == key && !w.evicted.Load() {
			w.touch()
			return w, true
		}
	}
	w, ok := p.workers.Load(key)
	if ok {
		if p.beforeCacheStore != nil {
			p.beforeCacheStore(w)
		}
		// Fill an empty or dead way, else replace one at random (a third hot
		// key in the set; rare, and it costs only map lookups).
		slot := &set[rand.Uint32()&1]
		for i := range set {
			if v := set[i].Load(); v == nil || v.evicted.Load() {
				slot = &set[i]
				break
			}
		}
		slot.Store(w)
		// The janitor may have evicted w, and swept the cache, between the
		// Load and the Store: then nobody else would clear the slot. Either
		// this load sees the flag or the sweep saw the stored pointer.
		if w.evicted.Load() {
			slot.CompareAndSwap(w, nil)
		}
		w.touch()
	}
	return w, ok
}

// Get returns key's worker, creating it on first use. Past MaxKeys, new keys get
// the shared overflow worker and overflow is true; a warning is logged once.
// The hit path is Lookup's.
func (p *Pool[S]) Get(key policy.Key) (w *Worker[S], overflow bool) {
	if w, ok := p.Lookup(key); ok {
		return w, false
	}
	// Creation: the cap is checked under the map's bucket lock, so two calls
	// racing to create the same key never send one of them to the overflow.
	created := false
	w, _ = p.workers.Compute(key, func(cur *Worker[S], loaded bool) (*Worker[S], bool) {
		if loaded {
			return cur, false
		}
		if p.count.Add(1) > int64(p.cfg.MaxKeys) {
			p.count.Add(-1)
			return nil, true // no entry: the key overflows
		}
		created = true
		return p.newWorker(key), false
	})
	switch {
	case w == nil:
		if p.warned.CompareAndSwap(false, true) {
			p.cfg.Logger.Warn("rego: too many distinct policy keys; new keys share one overflow worker with the default policy (keys must be low-cardinality)",
				"max_keys", p.cfg.MaxKeys, "key", key.String())
		}
		return p.Overflow(), true
	case created:
		select {
		case p.janitorC <- struct{}{}:
		default:
		}
	default:
		w.touch()
	}
	return w, false
}

// Overflow returns the shared worker of keys that get no worker of their own.
func (p *Pool[S]) Overflow() *Worker[S] {
	p.overflow.touch()
	return p.overflow
}

// Len returns how many keys have their own worker.
func (p *Pool[S]) Len() int { return p.workers.Size() }

// Close stops the janitor and every worker goroutine and waits for them.
// Workers stay usable by calls still in flight; their samples are dropped.
func (p *Pool[S]) Close() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	close(p.stop)
	p.mu.Unlock()
	p.wg.Wait()
}

// spawn starts f as a pool-owned goroutine; false once the pool is closed.
func (p *Pool[S]) spawn(f func()) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		f()
	}()
	return true
}

// janitor evicts keys that no call used for IdleTimeout. Every half timeout it
// sweeps: a key whose used flag is set has it cleared; a key found with its
// flag clear by two sweeps in a row (a whole timeout after the sweep that
// cleared it) is evicted. A key is so evicted between IdleTimeout and 1.5
// IdleTimeout after its last use, never sooner. It parks while the pool is empty.
func (p *Pool[S]) janitor() {
	half := p.cfg.IdleTimeout / 2
	for {
		if p.workers.Size() == 0 {
			select {
			case <-p.janitorC:
			case <-p.stop:
				return
			}
		}
		t := p.cfg.Clock.NewTimer(half)
		select {
		case <-t.C():
		case <-p.stop:
			t.Stop()
			return
		}
		p.sweep()
	}
}

// sweep runs one eviction pass.
func (p *Pool[S]) sweep() {
	p.workers.Range(func(key policy.Key, w *Worker[S]) bool {
		if w.used.Swap(false) {
			w.idleSweeps = 0
			return true
		}
		if w.idleSweeps++; w.idleSweeps < 2 {
			return true // unused for half a timeout only
		}
		p.workers.Compute(key, func(cur *Worker[S], loaded bool) (*Worker[S], bool) {
			if !loaded || cur != w || w.used.Load() {
				return cur, false // recreated or used again meanwhile: keep
			}
			p.count.Add(-1)
			w.evicted.Store(true)
			close(w.stop)
			return nil, true
		})
		return true
	})
	// Let go of evicted workers the cache still points at.
	for i := range p.cache {
		if w := p.cache[i].Load(); w != nil && w.evicted.Load() {
			p.cache[i].CompareAndSwap(w, nil)
		}
	}
}
