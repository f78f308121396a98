package keyworker

import (
	"runtime"
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

// BenchmarkPost posts samples to one hot key as fast as the goroutines can: the
// worst case for the mailbox. drop% is the share of samples that found it full.
func BenchmarkPost(b *testing.B) {
	for _, mode := range []string{"sequential", "parallel"} {
		b.Run(mode, func(b *testing.B) {
			p := newPool(b, Config{})
			w, _ := p.Get(policy.ParseKey("svc.Op"))
			w.Publish(percentileSnapshot())
			s := Sample{Latency: time.Millisecond, OK: true}
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
	w.Publish(percentileSnapshot())
	s := Sample{Latency: time.Millisecond, OK: true}
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

func reportDrops(b *testing.B, w *Worker) {
	st := w.Stats()
	if total := st.Posted + st.Dropped; total > 0 {
		b.ReportMetric(100*float64(st.Dropped)/float64(total), "drop%")
	}
}
