package budget

import (
	"math/rand/v2"
	"sync"
	"testing"
	"time"
)

// The benchmarks measure one call's worth of budget traffic: Record the first
// attempt, TryAcquire a retry, and if granted Record it and Release. Each
// lock-free kind runs beside a baseline that does the same arithmetic under a
// sync.Mutex. Clocks are real (time.Now), as in production. Results and the
// command line are in BENCHMARKS.md.

// mutexRing is the baseline's sliding window: the same ten buckets, plain
// fields under the owner's mutex.
type mutexRing struct {
	origin time.Time
	width  time.Duration
	epoch  [numBuckets]int64
	n      [numBuckets][2]uint64
}

func (r *mutexRing) now() int64 { return int64(time.Since(r.origin) / r.width) }

func (r *mutexRing) add(c int, e int64) {
	i := e % numBuckets
	if r.epoch[i] != e {
		r.epoch[i], r.n[i] = e, [2]uint64{}
	}
	r.n[i][c]++
}

func (r *mutexRing) sum(c int, e int64) (n uint64) {
	for i := range numBuckets {
		if r.epoch[i] > e-numBuckets {
			n += r.n[i][c]
		}
	}
	return n
}

type mutexRatio struct {
	mu           sync.Mutex
	pct, reserve float64
	w            mutexRing
}

func (m *mutexRatio) TryAcquire() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	e := m.w.now()
	if float64(m.w.sum(withdrawals, e)+1) > m.pct*float64(m.w.sum(deposits, e))+m.reserve {
		return false
	}
	m.w.add(withdrawals, e)
	return true
}
func (m *mutexRatio) Release() {}
func (m *mutexRatio) Record(first, ok bool) {
	if first {
		m.mu.Lock()
		m.w.add(deposits, m.w.now())
		m.mu.Unlock()
	}
}

type mutexAdaptive struct {
	mu sync.Mutex
	w  mutexRing
}

func (m *mutexAdaptive) TryAcquire() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	e := m.w.now()
	req := float64(m.w.sum(requests, e))
	if p := max(0, (req-2*float64(m.w.sum(accepts, e)))/(req+1)); p > 0 && rand.Float64() < p {
		m.w.add(requests, e)
		return false
	}
	return true
}
func (m *mutexAdaptive) Release() {}
func (m *mutexAdaptive) Record(first, ok bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e := m.w.now()
	m.w.add(requests, e)
	if ok {
		m.w.add(accepts, e)
	}
}

type benchCase struct {
	name string
	new  func(b *testing.B) Budget
}

func benchCases() []benchCase {
	return []benchCase{
		{"kind=ratio/impl=lockfree", func(b *testing.B) Budget { return DefaultRetry(nil) }},
		{"kind=ratio/impl=mutex", func(b *testing.B) Budget {
			return &mutexRatio{pct: 0.1, reserve: 100, w: mutexRing{origin: time.Now(), width: time.Second}}
		}},
		{"kind=token_bucket/impl=lockfree", func(b *testing.B) Budget {
			return mustTokenBucket(b, TokenBucketConfig{MaxTokens: 100, TokenRatio: 0.1})
		}},
		{"kind=token_bucket/impl=mutex", func(b *testing.B) Budget {
			return newRefTokenBucket(TokenBucketConfig{MaxTokens: 100, TokenRatio: 0.1})
		}},
		{"kind=concurrency/impl=lockfree", func(b *testing.B) Budget {
			c, _ := NewConcurrency(ConcurrencyConfig{Max: 4})
			return c
		}},
		{"kind=concurrency/impl=mutex", func(b *testing.B) Budget { return newRefConcurrency(ConcurrencyConfig{Max: 4}) }},
		{"kind=adaptive/impl=lockfree", func(b *testing.B) Budget { return mustAdaptive(b, AdaptiveConfig{}) }},
		{"kind=adaptive/impl=mutex", func(b *testing.B) Budget {
			return &mutexAdaptive{w: mutexRing{origin: time.Now(), width: 12 * time.Second}}
		}},
	}
}

// oneCall is the budget traffic of one call whose first attempt fails with
// probability 1/4 (i is the call's number).
func oneCall(bu Budget, i int) {
	bu.Record(true, i%4 != 0)
	if i%4 == 0 && bu.TryAcquire() {
		bu.Record(false, true)
		bu.Release()
	}
}

// oneCallAt is oneCall through the Timed twins, with a time the caller
// already has (the engine stamps every attempt's end anyway); the benchmarks
// refresh it every 256 calls so the window still slides.
func oneCallAt(bu Timed, now time.Time, i int) {
	bu.RecordAt(now, true, i%4 != 0)
	if i%4 == 0 && bu.TryAcquireAt(now) {
		bu.RecordAt(now, false, true)
		bu.(Budget).Release()
	}
}

func BenchmarkTryAcquireRecordAt(b *testing.B) {
	for _, bc := range []benchCase{benchCases()[0], benchCases()[6]} {
		b.Run(bc.name+"/mode=seq", func(b *testing.B) {
			bu := bc.new(b).(Timed)
			b.ReportAllocs()
			i, now := 0, time.Now()
			for b.Loop() {
				if i%256 == 0 {
					now = time.Now()
				}
				oneCallAt(bu, now, i)
				i++
			}
		})
		b.Run(bc.name+"/mode=parallel", func(b *testing.B) {
			bu := bc.new(b).(Timed)
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				i, now := 0, time.Now()
				for pb.Next() {
					if i%256 == 0 {
						now = time.Now()
					}
					oneCallAt(bu, now, i)
					i++
				}
			})
		})
	}
}

func BenchmarkTryAcquireRecord(b *testing.B) {
	for _, bc := range benchCases() {
		b.Run(bc.name+"/mode=seq", func(b *testing.B) {
			bu := bc.new(b)
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				oneCall(bu, i)
				i++
			}
		})
		b.Run(bc.name+"/mode=parallel", func(b *testing.B) {
			bu := bc.new(b)
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				i := 0
				for pb.Next() {
					oneCall(bu, i)
					i++
				}
			})
		})
	}
}

// BenchmarkTryAcquireOnly isolates the decision, with a budget that keeps
// granting (the token bucket and the concurrency limit are kept at rest).
func BenchmarkTryAcquireOnly(b *testing.B) {
	for _, bc := range benchCases() {
		b.Run(bc.name, func(b *testing.B) {
			bu := bc.new(b)
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if bu.TryAcquire() {
						bu.Release()
					}
				}
			})
		})
	}
}
