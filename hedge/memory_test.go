package hedge

import (
	"runtime"
	"testing"
)

// memoryBudget is the per-key target: a default Tracker must fit in it.
const memoryBudget = 64 << 10

// TestMemoryBytesWithinBudget verifies the estimate for the default config.
func TestMemoryBytesWithinBudget(t *testing.T) {
	tr := mustTracker(t, TrackerConfig{}, t0)
	if got := tr.MemoryBytes(); got > memoryBudget {
		t.Fatalf("MemoryBytes() = %d, want <= %d", got, memoryBudget)
	}
	t.Logf("MemoryBytes() = %d (%.1f KiB)", tr.MemoryBytes(), float64(tr.MemoryBytes())/1024)
}

// TestHeapPerTracker measures real heap growth for 1000 default Trackers and
// checks it against the budget and against MemoryBytes.
func TestHeapPerTracker(t *testing.T) {
	const n = 1000
	per, estimate := heapPerTracker(t, n)
	t.Logf("heap per Tracker: %d bytes (%.1f KiB); MemoryBytes() = %d", per, float64(per)/1024, estimate)
	if per > memoryBudget {
		t.Errorf("heap per Tracker = %d, want <= %d", per, memoryBudget)
	}
	if diff := per - estimate; diff > estimate/20 || -diff > estimate/20 {
		t.Errorf("heap per Tracker = %d, MemoryBytes() = %d: estimate off by more than 5%%", per, estimate)
	}
}

func heapPerTracker(t testing.TB, n int) (per, estimate int) {
	trackers := make([]*Tracker, n)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := range trackers {
		trackers[i] = mustTracker(t, TrackerConfig{}, t0)
	}
	runtime.GC() // drop the histogram headers New allocated and NewTracker copied
	runtime.ReadMemStats(&after)
	estimate = trackers[0].MemoryBytes()
	runtime.KeepAlive(trackers)
	return int(after.HeapAlloc-before.HeapAlloc) / n, estimate
}

// BenchmarkNewTracker reports the heap bytes one default Tracker holds
// (heap-B/tracker, measured with runtime.ReadMemStats over 1000 trackers).
func BenchmarkNewTracker(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := NewTracker(TrackerConfig{}, t0); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	per, _ := heapPerTracker(b, 1000)
	b.ReportMetric(float64(per), "heap-B/tracker")
}
