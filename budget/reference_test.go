package budget

import (
	"math"
	"sync"
	"time"
)

// The reference implementations below are the naive version of each kind: a
// mutex around plain fields, and for windows a list of timestamped events
// instead of a ring of packed words. They share no code with the real ones,
// so agreeing with them on the same schedule checks the lock-free machinery
// (lazy bucket reset, lap arithmetic, conditional CAS, clamping). They are
// also the baseline in the benchmarks.

// refEvents is a sliding window as a list of (epoch, counter) events.
type refEvents struct {
	now    Clock
	origin time.Time
	width  time.Duration
	hi     int64 // epochs never go back
	ev     []refEvent
}

type refEvent struct {
	epoch   int64
	counter int
}

func newRefEvents(now Clock, window time.Duration) refEvents {
	return refEvents{now: now, origin: now(), width: window / 10}
}

func (w *refEvents) epoch() int64 {
	var e int64
	if d := w.now().Sub(w.origin); d > 0 {
		e = min(int64(d/w.width), (1<<36)*10-1)
	}
	w.hi = max(w.hi, e)
	// Forget events that can never count again.
	keep := w.ev[:0]
	for _, x := range w.ev {
		if x.epoch > w.hi-10 {
			keep = append(keep, x)
		}
	}
	w.ev = keep
	return w.hi
}

func (w *refEvents) count(counter int, e int64) uint64 {
	var n uint64
	for _, x := range w.ev {
		if x.counter == counter && x.epoch > e-10 && x.epoch <= e {
			n++
		}
	}
	return n
}

func (w *refEvents) add(counter int, e int64) { w.ev = append(w.ev, refEvent{e, counter}) }

type refRatio struct {
	mu               sync.Mutex
	pct, reserve     float64
	w                refEvents
	acquired, denied uint64
}

func newRefRatio(c RatioConfig) *refRatio {
	return &refRatio{pct: c.Percent / 100, reserve: c.MinPerSecond * c.Window.Seconds(),
		w: newRefEvents(c.Now, c.Window)}
}

func (r *refRatio) TryAcquire() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	e := r.w.epoch()
	if float64(r.w.count(withdrawals, e)+1) > r.pct*float64(r.w.count(deposits, e))+r.reserve {
		r.denied++
		return false
	}
	r.w.add(withdrawals, e)
	r.acquired++
	return true
}

func (r *refRatio) Release() {}

func (r *refRatio) Record(first, ok bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if first {
		r.w.add(deposits, r.w.epoch())
	}
}

func (r *refRatio) Stats() RatioStats {
	r.mu.Lock()
	defer r.mu.Unlock()
	e := r.w.epoch()
	d := r.w.count(deposits, e)
	return RatioStats{Acquired: r.acquired, Denied: r.denied, FirstAttempts: d,
		Withdrawals: r.w.count(withdrawals, e), Limit: r.pct*float64(d) + r.reserve}
}

type refTokenBucket struct {
	mu                 sync.Mutex
	max, ratio, tokens int64 // milli-tokens
	acquired, denied   uint64
}

func newRefTokenBucket(c TokenBucketConfig) *refTokenBucket {
	m := int64(math.Round(c.MaxTokens * 1000))
	return &refTokenBucket{max: m, ratio: int64(math.Round(c.TokenRatio * 1000)), tokens: m}
}

func (b *refTokenBucket) TryAcquire() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if float64(b.tokens) > float64(b.max)/2 {
		b.acquired++
		return true
	}
	b.denied++
	return false
}

func (b *refTokenBucket) Release() {}

func (b *refTokenBucket) Record(first, ok bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if ok {
		b.tokens += b.ratio
		if b.tokens > b.max {
			b.tokens = b.max
		}
	} else {
		b.tokens -= 1000
		if b.tokens < 0 {
			b.tokens = 0
		}
	}
}

func (b *refTokenBucket) Stats() TokenBucketStats {
	b.mu.Lock()
	defer b.mu.Unlock()
	return TokenBucketStats{Acquired: b.acquired, Denied: b.denied,
		Tokens: float64(b.tokens) / 1000, MaxTokens: float64(b.max) / 1000}
}

type refConcurrency struct {
	mu    sync.Mutex
	max   int
	stats ConcurrencyStats
}

func newRefConcurrency(c ConcurrencyConfig) *refConcurrency {
	return &refConcurrency{max: c.Max, stats: ConcurrencyStats{Max: c.Max}}
}

func (c *refConcurrency) TryAcquire() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stats.InFlight >= c.max {
		c.stats.Denied++
		return false
	}
	c.stats.InFlight++
	c.stats.Acquired++
	return true
}

func (c *refConcurrency) Release() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stats.InFlight == 0 {
		c.stats.Unmatched++
		return
	}
	c.stats.InFlight--
	c.stats.Released++
}

func (c *refConcurrency) Record(first, ok bool) {}

func (c *refConcurrency) Stats() ConcurrencyStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stats
}

type refAdaptive struct {
	mu    sync.Mutex
	k     float64
	rand  func() float64
	w     refEvents
	stats AdaptiveStats
}

func newRefAdaptive(c AdaptiveConfig) *refAdaptive {
	if c.K == 0 {
		c.K = 2
	}
	if c.Window == 0 {
		c.Window = 2 * time.Minute
	}
	return &refAdaptive{k: c.K, rand: c.Rand, w: newRefEvents(c.Now, c.Window)}
}

func (a *refAdaptive) p(e int64) float64 {
	req := float64(a.w.count(requests, e))
	return math.Max(0, (req-a.k*float64(a.w.count(accepts, e)))/(req+1))
}

func (a *refAdaptive) allow() bool {
	e := a.w.epoch()
	if p := a.p(e); p > 0 && a.rand() < p {
		a.w.add(requests, e)
		return false
	}
	return true
}

func (a *refAdaptive) Admit() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	ok := a.allow()
	if ok {
		a.stats.Admitted++
	} else {
		a.stats.Refused++
	}
	return ok
}

func (a *refAdaptive) TryAcquire() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	ok := a.allow()
	if ok {
		a.stats.Acquired++
	} else {
		a.stats.Denied++
	}
	return ok
}

func (a *refAdaptive) Release() {}

func (a *refAdaptive) Record(first, ok bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	e := a.w.epoch()
	a.w.add(requests, e)
	if ok {
		a.w.add(accepts, e)
	}
}

func (a *refAdaptive) Stats() AdaptiveStats {
	a.mu.Lock()
	defer a.mu.Unlock()
	e := a.w.epoch()
	s := a.stats
	s.Requests, s.Accepts, s.RejectProbability = a.w.count(requests, e), a.w.count(accepts, e), a.p(e)
	return s
}
