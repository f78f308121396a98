package hedge

import (
	"math/rand/v2"
	"testing"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

// benchSamples is a fixed lognormal-ish latency sequence shared by the
// benchmarks and their baselines.
var benchSamples = func() []time.Duration {
	r := rand.New(rand.NewPCG(1, 2))
	d := latencyDistributions()[0]
	s := make([]time.Duration, 4096)
	for i := range s {
		s[i] = d.draw(r)
	}
	return s
}()

func filledTracker(b *testing.B) *Tracker {
	tr := mustTracker(b, TrackerConfig{}, t0)
	for i := range 10000 {
		tr.Record(benchSamples[i%len(benchSamples)], t0)
	}
	return tr
}

// BenchmarkRecord is one sample into a default Tracker (3 suffix-sum
// histograms). Baseline: BenchmarkRecordBaselineHDR.
func BenchmarkRecord(b *testing.B) {
	tr := filledTracker(b)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		tr.Record(benchSamples[i&4095], t0)
		i++
	}
}

// BenchmarkRecordBaselineHDR is one RecordValue into a single bare histogram
// of the same shape: the floor for Record.
func BenchmarkRecordBaselineHDR(b *testing.B) {
	h := hdrhistogram.New(1, 60_000_001, 2)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		_ = h.RecordValue(int64(benchSamples[i&4095] / time.Microsecond))
		i++
	}
}

// BenchmarkQuantileAfterRecord is the worker's per-batch cost with a batch of
// one: record a sample, then read p95 (cache invalidated every time).
// Baseline: BenchmarkQuantileBaselineWindowedMerge.
func BenchmarkQuantileAfterRecord(b *testing.B) {
	tr := filledTracker(b)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		tr.Record(benchSamples[i&4095], t0)
		tr.Quantile(95, t0)
		i++
	}
}

// BenchmarkQuantileBaselineWindowedMerge is the same work with
// hdrhistogram-go's WindowedHistogram: merge the windows on every read.
func BenchmarkQuantileBaselineWindowedMerge(b *testing.B) {
	w := hdrhistogram.NewWindowed(3, 1, 60_000_001, 2)
	for i := range 10000 {
		_ = w.Current.RecordValue(int64(benchSamples[i%len(benchSamples)] / time.Microsecond))
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		_ = w.Current.RecordValue(int64(benchSamples[i&4095] / time.Microsecond))
		w.Merge().ValueAtQuantile(95)
		i++
	}
}

// BenchmarkQuantileCached is a read with nothing changed since the last one.
func BenchmarkQuantileCached(b *testing.B) {
	tr := filledTracker(b)
	tr.Quantile(95, t0)
	b.ReportAllocs()
	for b.Loop() {
		tr.Quantile(95, t0)
	}
}

// BenchmarkRotate is a Record that first rotates one window (clearing one
// histogram of 2560 counters).
func BenchmarkRotate(b *testing.B) {
	tr := filledTracker(b)
	now := t0
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		now = now.Add(DefaultWindow)
		tr.Record(benchSamples[i&4095], now)
		i++
	}
}

// BenchmarkPercentileDelay is the trigger over a warm Tracker after one new
// sample: what the worker pays to recompute the hedge delay.
func BenchmarkPercentileDelay(b *testing.B) {
	tr := filledTracker(b)
	trig := Percentile{P: 95, Fallback: 50 * time.Millisecond, Min: time.Millisecond, Max: time.Second}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		tr.Record(benchSamples[i&4095], t0)
		trig.Delay(tr, t0)
		i++
	}
}
