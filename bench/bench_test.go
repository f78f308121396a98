package bench

import (
	"runtime"
	"testing"
)

// BenchmarkSuccess is the path almost every call takes: a policy with 3
// attempts and 10ms..1s backoff, and an op that succeeds at once.
func BenchmarkSuccess(b *testing.B) { runSequential(b, successImpls) }

// BenchmarkSuccessParallel is BenchmarkSuccess from GOMAXPROCS goroutines on
// one hot key: what contention the per-key state costs.
func BenchmarkSuccessParallel(b *testing.B) { runParallel(b, successImpls) }

// BenchmarkHedgeArmed is the success path with a hedge armed (1 hedge after
// 1s) that never fires: the price of enabling hedging on a healthy backend.
func BenchmarkHedgeArmed(b *testing.B) { runSequential(b, hedgeImpls) }

// BenchmarkHedgeArmedParallel is BenchmarkHedgeArmed from GOMAXPROCS
// goroutines on one hot key.
func BenchmarkHedgeArmedParallel(b *testing.B) { runParallel(b, hedgeImpls) }

// BenchmarkRetryOnce measures the retry machinery: the op fails once and then
// succeeds, with a 1µs backoff (no jitter). The time is mostly the wait: how
// late each library's timer wakes the caller after asking for 1µs.
func BenchmarkRetryOnce(b *testing.B) { runSequential(b, retryImpls) }

// BenchmarkValue is the success path of an op that returns a value: rego's
// generic DoValue costs what Do costs.
func BenchmarkValue(b *testing.B) { runSequential(b, valueImpls) }

// runSequential runs each implementation as a sub-benchmark impl=<name>, one
// call per iteration from the benchmark's goroutine.
func runSequential(b *testing.B, impls []impl) {
	for _, im := range impls {
		b.Run("impl="+im.name, func(b *testing.B) {
			call := im.setup(b)
			b.ReportAllocs()
			g0 := goroutinesCreated()
			for b.Loop() {
				if err := call(); err != nil {
					b.Fatal(err)
				}
			}
			reportGoroutines(b, g0)
		})
	}
}

// runParallel runs each implementation as a sub-benchmark impl=<name>, with
// RunParallel's goroutines (GOMAXPROCS of them) all calling at once.
func runParallel(b *testing.B, impls []impl) {
	for _, im := range impls {
		b.Run("impl="+im.name, func(b *testing.B) {
			call := im.setup(b)
			b.ReportAllocs()
			g0 := goroutinesCreated()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := call(); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.StopTimer()
			// RunParallel starts GOMAXPROCS goroutines of its own; they are not
			// the implementation's.
			reportGoroutines(b, g0+uint64(runtime.GOMAXPROCS(0)))
		})
	}
}

// reportGoroutines reports the goroutines created per call since g0.
func reportGoroutines(b *testing.B, g0 uint64) {
	created := goroutinesCreated()
	n := uint64(0)
	if created > g0 {
		n = created - g0
	}
	b.ReportMetric(float64(n)/float64(b.N), "goroutines/op")
}
