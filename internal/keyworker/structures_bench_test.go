package keyworker

import (
	"fmt"
	"hash/maphash"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/puzpuzpuz/xsync/v3"

	"github.com/regoresilience/rego/policy"
)

// The benchmarks below put each hand-rolled structure of the package beside
// the plain one it stands in for; BENCHMARKS.md records the numbers.

// BenchmarkLookupCache is a call site finding an existing key's worker, as
// every call does: through the address-keyed cache (impl=cache, what Lookup
// does) or the lock-free map alone (impl=map).
func BenchmarkLookupCache(b *testing.B) {
	p := newPool(b, Config{})
	k := policy.ParseKey("svc.Op")
	p.Get(k)
	impls := []struct {
		name string
		f    func(policy.Key) bool
	}{
		{"cache", func(k policy.Key) bool { _, ok := p.Lookup(k); return ok }},
		{"map", func(k policy.Key) bool { w, ok := p.workers.Load(k); w.touch(); return ok }},
	}
	for _, impl := range impls {
		b.Run("impl="+impl.name+"/mode=seq", func(b *testing.B) {
			for b.Loop() {
				if !impl.f(k) {
					b.Fatal("miss")
				}
			}
		})
		b.Run("impl="+impl.name+"/mode=parallel", func(b *testing.B) {
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					impl.f(k)
				}
			})
		})
	}
}

// BenchmarkKeyHasher is the map load of a key among 1000 with xsync's
// default hasher for the struct (impl=default, what the pool uses) and with
// a hasher of the key's two strings (impl=hashKey). It runs only on a
// lookup-cache miss, so the engine's numbers do not show the difference,
// and the pool keeps the default.
func BenchmarkKeyHasher(b *testing.B) {
	custom := xsync.NewMapOfWithHasher[policy.Key, int](hashKey)
	generic := xsync.NewMapOf[policy.Key, int]()
	keys := make([]policy.Key, 1000)
	for i := range keys {
		keys[i] = policy.Key{Namespace: "user-service", Name: fmt.Sprint("GetUser", i)}
		custom.Store(keys[i], i)
		generic.Store(keys[i], i)
	}
	for _, impl := range []struct {
		name string
		m    *xsync.MapOf[policy.Key, int]
	}{{"hashKey", custom}, {"default", generic}} {
		b.Run("impl="+impl.name, func(b *testing.B) {
			i := 0
			for b.Loop() {
				if _, ok := impl.m.Load(keys[i%len(keys)]); !ok {
					b.Fatal("miss")
				}
				i++
			}
		})
	}
}

// BenchmarkMailboxPush is a call site posting a latency while the key's
// goroutine drains: into the lock-free ring (impl=ring, what Post does) or
// a buffered channel with a non-blocking send (impl=chan), both 64 deep.
// Between posts each poster does about 200ns of other work (spin), as a
// hedged call does: posting flat out, the posters would only measure a full
// mailbox. drop% is the share of posts that found the mailbox full.
func BenchmarkMailboxPush(b *testing.B) {
	for _, impl := range []string{"ring", "chan"} {
		for _, mode := range []string{"seq", "parallel"} {
			b.Run("impl="+impl+"/mode="+mode, func(b *testing.B) {
				var push func(uint64) bool
				var stop atomic.Bool
				var wg sync.WaitGroup
				wg.Add(1)
				if impl == "ring" {
					m := newMailbox(DefaultMailboxSize)
					push = func(v uint64) bool { _, ok := m.tryPush(v); return ok }
					go func() {
						defer wg.Done()
						for !stop.Load() {
							if _, ok := m.pop(); !ok {
								runtime.Gosched()
							}
						}
					}()
				} else {
					ch := make(chan uint64, DefaultMailboxSize)
					push = func(v uint64) bool {
						select {
						case ch <- v:
							return true
						default:
							return false
						}
					}
					go func() {
						defer wg.Done()
						for !stop.Load() {
							select {
							case <-ch:
							default:
								runtime.Gosched()
							}
						}
					}()
				}
				var pushed, dropped atomic.Int64
				if mode == "seq" {
					for i := 0; b.Loop(); i++ {
						spin(200)
						if push(uint64(i)) {
							pushed.Add(1)
						} else {
							dropped.Add(1)
						}
					}
				} else {
					b.RunParallel(func(pb *testing.PB) {
						var ok, no int64
						for i := uint64(0); pb.Next(); i++ {
							spin(200)
							if push(i) {
								ok++
							} else {
								no++
							}
						}
						pushed.Add(ok)
						dropped.Add(no)
					})
				}
				b.StopTimer()
				stop.Store(true)
				wg.Wait()
				if total := pushed.Load() + dropped.Load(); total > 0 {
					b.ReportMetric(100*float64(dropped.Load())/float64(total), "drop%")
				}
			})
		}
	}
}

var spinSink uint64

// spin burns about n nanoseconds of CPU without touching shared memory.
func spin(n int) {
	x := uint64(n)
	for i := 0; i < n/2; i++ {
		x = x*6364136223846793005 + 1442695040888963407
	}
	spinSink += x & 1
}

// BenchmarkSpin is the posters' work alone, the baseline of
// BenchmarkMailboxPush.
func BenchmarkSpin(b *testing.B) {
	for b.Loop() {
		spin(200)
	}
}

// BenchmarkMailboxPushPop is one post and its drain in one goroutine: the
// uncontended cost of the ring (impl=ring) and of a buffered channel
// (impl=chan), what a post costs a call while the key's goroutine lingers.
func BenchmarkMailboxPushPop(b *testing.B) {
	b.Run("impl=ring", func(b *testing.B) {
		m := newMailbox(DefaultMailboxSize)
		for i := uint64(0); b.Loop(); i++ {
			m.tryPush(i)
			m.pop()
		}
	})
	b.Run("impl=chan", func(b *testing.B) {
		ch := make(chan uint64, DefaultMailboxSize)
		for i := uint64(0); b.Loop(); i++ {
			select {
			case ch <- i:
			default:
			}
			<-ch
		}
	})
}

// hashKey hashes a key's two strings with the runtime's string hash: the
// alternative BenchmarkKeyHasher measures.
func hashKey(k policy.Key, seed uint64) uint64 {
	h := maphash.String(hashSeed, k.Namespace)
	return (h^seed)*0x9E3779B97F4A7C15 ^ maphash.String(hashSeed, k.Name)
}

var hashSeed = maphash.MakeSeed()
