package hedge

import (
	"math"
	"testing"
	"time"
)

// fakeSource answers a fixed latency and count and remembers what it was
// asked.
type fakeSource struct {
	d     time.Duration
	n     int64
	calls int
	lastP float64
	last  time.Time
}

func (f *fakeSource) Quantile(p float64, now time.Time) (time.Duration, int64) {
	f.calls++
	f.lastP, f.last = p, now
	return f.d, f.n
}

// TestFixed verifies Fixed ignores the source and never goes negative.
func TestFixed(t *testing.T) {
	src := &fakeSource{d: time.Second, n: 1000}
	for _, c := range []struct{ d, want time.Duration }{
		{0, 0}, {-time.Second, 0}, {50 * time.Millisecond, 50 * time.Millisecond},
	} {
		if got := (Fixed{D: c.d}).Delay(src, t0); got != c.want {
			t.Errorf("Fixed{%v}.Delay = %v, want %v", c.d, got, c.want)
		}
		if got := (Fixed{D: c.d}).Delay(nil, t0); got != c.want {
			t.Errorf("Fixed{%v}.Delay(nil) = %v, want %v", c.d, got, c.want)
		}
	}
	if src.calls != 0 {
		t.Fatalf("Fixed consulted the source %d times", src.calls)
	}
}

// TestPercentileUsesSource verifies the source is asked for P at now and its
// answer used once MinSamples are seen.
func TestPercentileUsesSource(t *testing.T) {
	src := &fakeSource{d: 42 * time.Millisecond, n: 10}
	p := Percentile{P: 95, MinSamples: 10, Fallback: time.Second}
	if got := p.Delay(src, t0); got != 42*time.Millisecond {
		t.Fatalf("Delay = %v, want the source's 42ms", got)
	}
	if src.lastP != 95 || !src.last.Equal(t0) {
		t.Fatalf("source asked for p%v at %v, want p95 at %v", src.lastP, src.last, t0)
	}
}

// TestPercentileFallback verifies the fallback below MinSamples (default
// 100), with a nil source, and with a P outside (0, 100).
func TestPercentileFallback(t *testing.T) {
	const fb = 250 * time.Millisecond
	for _, c := range []struct {
		name string
		p    Percentile
		src  LatencySource
		want time.Duration
	}{
		{"below MinSamples", Percentile{P: 95, MinSamples: 50, Fallback: fb}, &fakeSource{d: time.Millisecond, n: 49}, fb},
		{"at MinSamples", Percentile{P: 95, MinSamples: 50, Fallback: fb}, &fakeSource{d: time.Millisecond, n: 50}, time.Millisecond},
		{"default MinSamples below", Percentile{P: 95, Fallback: fb}, &fakeSource{d: time.Millisecond, n: DefaultMinSamples - 1}, fb},
		{"default MinSamples at", Percentile{P: 95, Fallback: fb}, &fakeSource{d: time.Millisecond, n: DefaultMinSamples}, time.Millisecond},
		{"negative MinSamples means default", Percentile{P: 95, MinSamples: -3, Fallback: fb}, &fakeSource{d: time.Millisecond, n: 99}, fb},
		{"nil source", Percentile{P: 95, MinSamples: 1, Fallback: fb}, nil, fb},
		{"P zero", Percentile{MinSamples: 1, Fallback: fb}, &fakeSource{d: time.Millisecond, n: 1000}, fb},
		{"P 100", Percentile{P: 100, MinSamples: 1, Fallback: fb}, &fakeSource{d: time.Millisecond, n: 1000}, fb},
		{"P negative", Percentile{P: -1, MinSamples: 1, Fallback: fb}, &fakeSource{d: time.Millisecond, n: 1000}, fb},
		{"P NaN", Percentile{P: math.NaN(), MinSamples: 1, Fallback: fb}, &fakeSource{d: time.Millisecond, n: 1000}, fb},
		{"negative fallback", Percentile{P: 95, Fallback: -fb}, nil, 0},
	} {
		if got := c.p.Delay(c.src, t0); got != c.want {
			t.Errorf("%s: Delay = %v, want %v", c.name, got, c.want)
		}
	}
}

// TestPercentileClamping verifies [Min, Max] bounds both the source's answer
// and the fallback, 0 meaning unbounded, Min winning over a smaller Max.
func TestPercentileClamping(t *testing.T) {
	ms := time.Millisecond
	for _, c := range []struct {
		name     string
		min, max time.Duration
		src      time.Duration
		n        int64
		want     time.Duration
	}{
		{"inside", 5 * ms, 50 * ms, 20 * ms, 100, 20 * ms},
		{"below min", 5 * ms, 50 * ms, 1 * ms, 100, 5 * ms},
		{"above max", 5 * ms, 50 * ms, 80 * ms, 100, 50 * ms},
		{"no max", 5 * ms, 0, time.Hour, 100, time.Hour},
		{"no min", 0, 50 * ms, 0, 100, 0},
		{"max below min", 30 * ms, 10 * ms, 20 * ms, 100, 30 * ms},
		{"negative bounds", -ms, -ms, 20 * ms, 100, 20 * ms},
		{"fallback below min", 5 * ms, 50 * ms, 0, 0, 5 * ms}, // fallback is 0
		{"fallback above max", 0, 50 * ms, 0, 0, 0},           // fallback 0 stays 0
		{"negative source answer", 0, 0, -20 * ms, 100, 0},    // never negative
		{"source answer at bounds", 20 * ms, 20 * ms, ms, 100, 20 * ms},
	} {
		p := Percentile{P: 99, Min: c.min, Max: c.max}
		if got := p.Delay(&fakeSource{d: c.src, n: c.n}, t0); got != c.want {
			t.Errorf("%s: Delay = %v, want %v", c.name, got, c.want)
		}
	}
	big := Percentile{P: 99, Fallback: time.Second, Min: time.Millisecond, Max: 100 * time.Millisecond}
	if got := big.Delay(nil, t0); got != 100*time.Millisecond {
		t.Errorf("fallback above Max: Delay = %v, want Max", got)
	}
}

// TestPercentileOverTracker verifies the trigger end to end over a real
// Tracker: fallback while warming up, then the tracked p95, then the fallback
// again once the samples expired.
func TestPercentileOverTracker(t *testing.T) {
	tr := mustTracker(t, TrackerConfig{}, t0)
	trig := Percentile{P: 95, MinSamples: 100, Fallback: 75 * time.Millisecond, Max: time.Second}
	now := t0
	for i := range 99 {
		tr.Record(time.Duration(i+1)*time.Millisecond, now)
	}
	if got := trig.Delay(tr, now); got != 75*time.Millisecond {
		t.Fatalf("99 samples: Delay = %v, want the fallback", got)
	}
	tr.Record(100*time.Millisecond, now)
	if got := trig.Delay(tr, now); !withinPrecision(got, 95*time.Millisecond) {
		t.Fatalf("100 samples (1..100ms): Delay = %v, want ~95ms", got)
	}
	if got := trig.Delay(tr, now.Add(30*time.Second)); got != 75*time.Millisecond {
		t.Fatalf("after expiry: Delay = %v, want the fallback", got)
	}
}
