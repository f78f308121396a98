package hedge

import (
	"errors"
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

// TestNewTrackerDefaults verifies that the zero config means 3 × 10s windows
// over 1µs..60s with 2 significant figures.
func TestNewTrackerDefaults(t *testing.T) {
	tr := mustTracker(t, TrackerConfig{}, t0)
	want := TrackerConfig{Window: 10 * time.Second, Windows: 3, Min: time.Microsecond, Max: time.Minute, SigFigs: 2}
	if got := tr.Config(); got != want {
		t.Fatalf("Config() = %+v, want %+v", got, want)
	}
}

// TestNewTrackerInvalidConfig verifies that unusable configs are refused with
// an error matching ErrInvalidConfig, never a panic.
func TestNewTrackerInvalidConfig(t *testing.T) {
	for _, c := range []TrackerConfig{
		{Window: -time.Second},
		{Windows: -1},
		{Windows: MaxWindows + 1},
		{Min: -time.Microsecond},
		{Min: 999 * time.Nanosecond},
		{Max: -time.Second},
		{Min: time.Second, Max: time.Second},
		{Min: 2 * time.Second, Max: time.Second},
		{Max: MaxTrackable + 1},
		{Max: 1500 * time.Nanosecond}, // 1µs in whole µs: no room above Min
		{SigFigs: -1},
		{SigFigs: MaxSigFigs + 1},
	} {
		tr, err := NewTracker(c, t0)
		if !errors.Is(err, ErrInvalidConfig) || tr != nil {
			t.Errorf("NewTracker(%+v) = %v, %v; want nil, ErrInvalidConfig", c, tr, err)
		}
	}
}

// TestQuantileMatchesSortedReference verifies quantiles against a sorted
// slice on random latency distributions, within the histogram's precision.
func TestQuantileMatchesSortedReference(t *testing.T) {
	percentiles := []float64{0.1, 1, 10, 25, 50, 75, 90, 95, 99, 99.9, 99.99}
	for i, dist := range latencyDistributions() {
		t.Run(dist.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(uint64(i), 42))
			tr := mustTracker(t, TrackerConfig{}, t0)
			const n = 20000
			samples := make([]time.Duration, 0, n)
			now := t0
			for j := range n {
				// Spread over 25s: three windows, none expired.
				now = t0.Add(time.Duration(j) * 25 * time.Second / n)
				d := dist.draw(r)
				tr.Record(d, now)
				samples = append(samples, clampDefault(d))
			}
			sorted := sortedCopy(samples)
			for _, p := range percentiles {
				got, count := tr.Quantile(p, now)
				want := refQuantile(sorted, p)
				if count != n || !withinPrecision(got, want) {
					t.Errorf("Quantile(%v) = %v, %d; reference %v, %d", p, got, count, want, n)
				}
			}
		})
	}
}

// TestTrackerAgainstWindowedReference drives a Tracker and a naive list of
// (window index, sample) through the same random schedule, including gaps
// longer than all windows, and checks counts exactly and quantiles within
// precision.
func TestTrackerAgainstWindowedReference(t *testing.T) {
	cfg := TrackerConfig{Window: time.Second, Windows: 4}
	r := rand.New(rand.NewPCG(7, 11))
	tr := mustTracker(t, cfg, t0)
	type sample struct {
		window int64
		d      time.Duration
	}
	var ref []sample
	windowOf := func(now time.Time) int64 { return int64(now.Sub(t0) / cfg.Window) }
	now := t0
	dists := latencyDistributions()
	for step := range 20000 {
		switch {
		case r.IntN(500) == 0:
			now = now.Add(time.Duration(r.Int64N(int64(6 * time.Second)))) // may expire everything
		default:
			now = now.Add(time.Duration(r.Int64N(int64(2 * time.Millisecond))))
		}
		d := dists[r.IntN(len(dists))].draw(r)
		tr.Record(d, now)
		ref = append(ref, sample{windowOf(now), clampDefault(d)})
		if step%97 != 0 {
			continue
		}
		cur := windowOf(now)
		var live []time.Duration
		for _, s := range ref {
			if s.window > cur-int64(cfg.Windows) {
				live = append(live, s.d)
			}
		}
		if got := tr.Count(now); got != int64(len(live)) {
			t.Fatalf("step %d: Count = %d, reference %d", step, got, len(live))
		}
		sorted := sortedCopy(live)
		for _, p := range []float64{50, 90, 99} {
			got, _ := tr.Quantile(p, now)
			if want := refQuantile(sorted, p); !withinPrecision(got, want) {
				t.Fatalf("step %d: Quantile(%v) = %v, reference %v", step, p, got, want)
			}
		}
	}
}

// TestWindowRotationForgetsOldSamples verifies that a sample leaves exactly
// when Windows windows have passed since the start of its own window.
func TestWindowRotationForgetsOldSamples(t *testing.T) {
	tr := mustTracker(t, TrackerConfig{}, t0) // 3 × 10s
	tr.Record(5*time.Millisecond, t0)
	tr.Record(7*time.Millisecond, t0.Add(10*time.Second-1)) // end of the first window
	tr.Record(9*time.Millisecond, t0.Add(10*time.Second))   // start of the second
	for _, c := range []struct {
		at   time.Duration
		want int64
	}{
		{0, 3},
		{29*time.Second + 999*time.Millisecond, 3},
		{30 * time.Second, 1}, // first window gone: both of its samples
		{40*time.Second - 1, 1},
		{40 * time.Second, 0},
		{time.Hour, 0},
	} {
		if got := tr.Count(t0.Add(c.at)); got != c.want {
			t.Errorf("Count(t0+%v) = %d, want %d", c.at, got, c.want)
		}
	}
	if d, n := tr.Quantile(50, t0.Add(time.Hour)); d != 0 || n != 0 {
		t.Errorf("Quantile after expiry = %v, %d; want 0, 0", d, n)
	}
	// A tracker emptied by a long gap keeps working, aligned to its windows.
	tr.Record(3*time.Millisecond, t0.Add(time.Hour+5*time.Second))
	if got := tr.Count(t0.Add(time.Hour + 29*time.Second)); got != 1 {
		t.Errorf("Count after gap = %d, want 1", got)
	}
	if got := tr.Count(t0.Add(time.Hour + 30*time.Second)); got != 0 {
		t.Errorf("Count after gap + 3 windows = %d, want 0", got)
	}
}

// TestSingleWindow verifies Windows = 1: a plain tumbling window.
func TestSingleWindow(t *testing.T) {
	tr := mustTracker(t, TrackerConfig{Window: time.Second, Windows: 1}, t0)
	tr.Record(time.Millisecond, t0.Add(999*time.Millisecond))
	if got := tr.Count(t0.Add(999 * time.Millisecond)); got != 1 {
		t.Fatalf("Count = %d, want 1", got)
	}
	if got := tr.Count(t0.Add(time.Second)); got != 0 {
		t.Fatalf("Count next window = %d, want 0", got)
	}
}

// TestClockSteppingBack verifies that a now before the current window's start
// records into the current window instead of rotating or panicking.
func TestClockSteppingBack(t *testing.T) {
	tr := mustTracker(t, TrackerConfig{}, t0)
	tr.Record(time.Millisecond, t0.Add(15*time.Second))
	tr.Record(2*time.Millisecond, t0.Add(-time.Hour))
	tr.Record(3*time.Millisecond, time.Time{})
	if got := tr.Count(t0.Add(15 * time.Second)); got != 3 {
		t.Fatalf("Count = %d, want 3", got)
	}
	// All three live in the window starting at t0+10s.
	if got := tr.Count(t0.Add(40 * time.Second)); got != 0 {
		t.Fatalf("Count after 3 windows = %d, want 0", got)
	}
}

// TestRecordClampsIntoRange verifies that samples outside [Min, Max] count at
// the bounds and quantiles never leave the range.
func TestRecordClampsIntoRange(t *testing.T) {
	tr := mustTracker(t, TrackerConfig{Min: 100 * time.Microsecond, Max: time.Second}, t0)
	tr.Record(-time.Second, t0)
	tr.Record(0, t0)
	tr.Record(time.Nanosecond, t0)
	tr.Record(time.Hour, t0)
	tr.Record(math.MaxInt64, t0)
	if n := tr.Count(t0); n != 5 {
		t.Fatalf("Count = %d, want 5", n)
	}
	if lo, _ := tr.Quantile(1, t0); lo < 100*time.Microsecond || lo > 200*time.Microsecond {
		t.Errorf("low quantile = %v, want about Min (100µs, resolution 64µs)", lo)
	}
	if hi, _ := tr.Quantile(100, t0); hi != time.Second {
		t.Errorf("Quantile(100) = %v, want Max", hi)
	}
}

// TestRecordEveryRange verifies, over many ranges and precisions, that the
// clamped extremes are always recordable (Record ignores the histogram's
// out-of-range error because clamping makes it impossible) and that
// Quantile(100) stays within Max.
func TestRecordEveryRange(t *testing.T) {
	maxes := []time.Duration{2 * time.Microsecond, 255 * time.Microsecond, 256 * time.Microsecond,
		257 * time.Microsecond, 1 << 20 * time.Microsecond, time.Second, time.Minute, MaxTrackable}
	mins := []time.Duration{time.Microsecond, 3 * time.Microsecond, 64 * time.Microsecond, time.Millisecond}
	for _, sf := range []int{1, 2, 3} {
		for _, lo := range mins {
			for _, hi := range maxes {
				c := TrackerConfig{Min: lo, Max: hi, SigFigs: sf}
				tr, err := NewTracker(c, t0)
				if hi <= lo {
					if err == nil {
						t.Errorf("%+v: accepted", c)
					}
					continue
				}
				if err != nil {
					t.Fatalf("%+v: %v", c, err)
				}
				for _, d := range []time.Duration{0, lo, hi, hi + 1, 2 * hi} {
					tr.Record(d, t0)
				}
				if n := tr.Count(t0); n != 5 {
					t.Errorf("%+v: Count = %d, want 5", c, n)
				}
				if got, _ := tr.Quantile(100, t0); got > hi || got < lo {
					t.Errorf("%+v: Quantile(100) = %v, want in [%v, %v]", c, got, lo, hi)
				}
			}
		}
	}
}

// TestQuantileEdges verifies empty trackers, NaN and out-of-range p, and low
// percentiles over few samples (which the bare histogram answers with 0).
func TestQuantileEdges(t *testing.T) {
	tr := mustTracker(t, TrackerConfig{}, t0)
	if d, n := tr.Quantile(95, t0); d != 0 || n != 0 {
		t.Fatalf("empty: %v, %d", d, n)
	}
	for _, d := range []time.Duration{10, 20, 30, 40} {
		tr.Record(d*time.Millisecond, t0)
	}
	for _, c := range []struct {
		p    float64
		want time.Duration
	}{
		{math.NaN(), 0},
		{math.Inf(-1), 10 * time.Millisecond},
		{-5, 10 * time.Millisecond},
		{0, 10 * time.Millisecond},
		{1, 10 * time.Millisecond}, // round(0.04) = 0: rank 1, not 0
		{50, 20 * time.Millisecond},
		{100, 40 * time.Millisecond},
		{250, 40 * time.Millisecond},
		{math.Inf(1), 40 * time.Millisecond},
	} {
		got, n := tr.Quantile(c.p, t0)
		if n != 4 || (c.want == 0 && got != 0) || (c.want != 0 && !withinPrecision(got, c.want)) {
			t.Errorf("Quantile(%v) = %v, %d; want ~%v, 4", c.p, got, n, c.want)
		}
	}
}

// TestQuantileCache verifies the cached answer is dropped on every change:
// a new sample, a rotation, another p.
func TestQuantileCache(t *testing.T) {
	tr := mustTracker(t, TrackerConfig{Window: time.Second, Windows: 2}, t0)
	tr.Record(10*time.Millisecond, t0)
	if d, _ := tr.Quantile(100, t0); !withinPrecision(d, 10*time.Millisecond) {
		t.Fatalf("first read %v", d)
	}
	tr.Record(50*time.Millisecond, t0.Add(time.Second))
	if d, _ := tr.Quantile(100, t0.Add(time.Second)); !withinPrecision(d, 50*time.Millisecond) {
		t.Fatalf("after record %v, want ~50ms", d)
	}
	if d, _ := tr.Quantile(1, t0.Add(time.Second)); !withinPrecision(d, 10*time.Millisecond) {
		t.Fatalf("other p %v, want ~10ms", d)
	}
	tr.Record(5*time.Millisecond, t0.Add(2*time.Second)) // 10ms expires
	if d, _ := tr.Quantile(1, t0.Add(2*time.Second)); !withinPrecision(d, 5*time.Millisecond) {
		t.Fatalf("after rotation %v, want ~5ms", d)
	}
	if d, n := tr.Quantile(1, t0.Add(4*time.Second)); d != 0 || n != 0 {
		t.Fatalf("after expiry %v, %d, want 0, 0", d, n)
	}
}

// TestNilTracker verifies a nil *Tracker behaves as an empty one, so a typed
// nil inside a LatencySource never panics.
func TestNilTracker(t *testing.T) {
	var tr *Tracker
	tr.Record(time.Second, t0)
	if d, n := tr.Quantile(50, t0); d != 0 || n != 0 {
		t.Fatalf("Quantile = %v, %d", d, n)
	}
	if tr.Count(t0) != 0 || tr.MemoryBytes() != 0 || tr.Config() != (TrackerConfig{}) {
		t.Fatal("nil tracker not empty")
	}
	if d := (Percentile{P: 95, MinSamples: 1, Fallback: time.Second}).Delay(tr, t0); d != time.Second {
		t.Fatalf("Delay over nil tracker = %v, want fallback", d)
	}
}

// TestNoAllocations verifies the worker's hot path allocates nothing:
// Record, Quantile after a change, rotation, Count and Percentile.Delay.
func TestNoAllocations(t *testing.T) {
	tr := mustTracker(t, TrackerConfig{}, t0)
	now := t0
	trig := Percentile{P: 95, MinSamples: 1}
	allocs := testing.AllocsPerRun(1000, func() {
		now = now.Add(37 * time.Millisecond) // rotates every ~270 runs
		tr.Record(time.Duration(now.UnixNano()%int64(time.Second)), now)
		tr.Quantile(95, now)
		tr.Count(now)
		trig.Delay(tr, now)
	})
	if allocs != 0 {
		t.Fatalf("allocs per run = %v, want 0", allocs)
	}
}
