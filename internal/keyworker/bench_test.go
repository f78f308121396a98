package keyworker

import (
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/regoresilience/rego/policy"
)

// BenchmarkGetHit is the call sites' lookup of an existing key's worker.
func BenchmarkGetHit(b *testing.B) {
	p := newPool(b, Config{})
	k := policy.ParseKey("svc.Op")
	p.Get(k)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			p.Lookup(k)
		}
	})
}

// BenchmarkLookupFreshStrings is a sequential lookup for a program that builds
// its keys anew for each call (equal keys, 4096 different string data): the
// lookup cache, indexed by string addresses, spreads them over its slots, and
// each slot learns the key's worker on its first miss.
func BenchmarkLookupFreshStrings(b *testing.B) {
	p := newPool(b, Config{})
	p.Get(policy.ParseKey("svc.Op"))
	keys := make([]policy.Key, 4096)
	for i := range keys {
		keys[i] = policy.Key{Namespace: strings.Clone("svc"), Name: strings.Clone("Op")}
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, ok := p.Lookup(keys[i%len(keys)]); !ok {
			b.Fatal("miss")
		}
		i++
	}
}

// BenchmarkPost posts samples to one hot key as fast as the goroutines can: the
// worst case for the mailbox. drop% is the share of samples that found it full.
func BenchmarkPost(b *testing.B) {
	for _, mode := range []string{"sequential", "parallel"} {
		b.Run(mode, func(b *testing.B) {
			p := newPool(b, Config{})
			w, _ := p.Get(policy.ParseKey("svc.Op"))
			w.Track(p50)
			const s = time.Millisecond
			b.ReportAllocs()
			b.ResetTimer()
			if mode == "sequential" {
				for range b.N {
					w.Post(s)
				}
			} else {
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						w.Post(s)
					}
				})
			}
			b.StopTimer()
			reportDrops(b, w)
		})
	}
}

// BenchmarkPostPaced1M posts to one key at about one million samples a second
// in all, spread over GOMAXPROCS goroutines, as a busy service would.
func BenchmarkPostPaced1M(b *testing.B) {
	p := newPool(b, Config{})
	w, _ := p.Get(policy.ParseKey("svc.Op"))
	w.Track(p50)
	const s = time.Millisecond
	var n atomic.Int64
	start := time.Now()
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1)
			// Hold back whenever we are ahead of 1M/s, yielding as a service
			// doing real work between calls would.
			for due := start.Add(time.Duration(i) * time.Microsecond); time.Now().Before(due); {
				runtime.Gosched()
			}
			w.Post(s)
		}
	})
	b.StopTimer()
	reportDrops(b, w)
	b.ReportMetric(float64(n.Load())/time.Since(start).Seconds(), "posts/s")
}

func reportDrops(b *testing.B, w *Worker[snap]) {
	st := w.Stats()
	if total := st.Posted + st.Dropped; total > 0 {
		b.ReportMetric(100*float64(st.Dropped)/float64(total), "drop%")
	}
}
