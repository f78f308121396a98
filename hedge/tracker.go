package hedge

import (
	"math"
	"time"
	"unsafe"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

// LatencySource reports a key's recent latency at percentile p (0 < p < 100)
// and how many samples that answer is based on. [Tracker] implements it.
type LatencySource interface {
	Quantile(p float64, now time.Time) (d time.Duration, count int64)
}

var _ LatencySource = (*Tracker)(nil)

// Tracker is a windowed HDR latency histogram: it answers quantiles over the
// samples recorded in the last Windows windows of length Window and forgets
// older ones. Windows rotate when Record, Quantile or Count is given a now at
// or past the current window's end; the Tracker starts no goroutine and arms
// no timer.
//
// A Tracker is NOT safe for concurrent use. It is owned by one goroutine (in
// rego, the key's worker), which is the only one to call its methods. Its
// methods are allocation-free. A nil *Tracker is an empty tracker.
//
// See the package documentation for the suffix-sum layout that makes reads
// merge-free.
type Tracker struct {
	cfg          TrackerConfig
	minUS, maxUS int64 // cfg.Min and cfg.Max in µs: the clamp bounds of stored values

	// sums[(head+k)%len(sums)] holds the samples of the last k+1 windows, so
	// sums[head] is the current window alone and the one before head (mod
	// len) is all of them: the histogram quantiles are read from.
	sums  []hdrhistogram.Histogram
	head  int
	start time.Time // start of the current window

	// gen counts changes of the full sum (a sample, a rotation); a cached
	// quantile is valid while its gen is current and p is the same.
	gen     uint64
	cache   cachedQuantile
	cacheOK bool
}

type cachedQuantile struct {
	gen uint64
	p   float64
	d   time.Duration
}

// NewTracker returns an empty Tracker whose first window starts at now. Zero
// fields of c take the defaults; an invalid c gives an error matching
// [ErrInvalidConfig].
func NewTracker(c TrackerConfig, now time.Time) (*Tracker, error) {
	c, err := c.withDefaults()
	if err != nil {
		return nil, err
	}
	t := &Tracker{
		cfg:   c,
		minUS: int64(c.Min / time.Microsecond),
		maxUS: int64(c.Max / time.Microsecond),
		sums:  make([]hdrhistogram.Histogram, c.Windows),
		start: now,
	}
	for i := range t.sums {
		// The lowest discernible value is Min: values below it are clamped
		// anyway, so finer resolution there would only cost memory. The
		// highest is maxUS+1 because hdrhistogram-go v1.1.2 cannot record its
		// own highest trackable value when that is an exact bucket boundary
		// (256µs, 1.048576s, … at 2 figures).
		t.sums[i] = *hdrhistogram.New(t.minUS, t.maxUS+1, c.SigFigs)
	}
	return t, nil
}

// Config returns the effective configuration (defaults filled in).
func (t *Tracker) Config() TrackerConfig {
	if t == nil {
		return TrackerConfig{}
	}
	return t.cfg
}

// Record adds one latency sample observed at now. d is clamped into
// [Min, Max] (a negative d counts as Min).
func (t *Tracker) Record(d time.Duration, now time.Time) {
	if t == nil {
		return
	}
	t.advance(now)
	v := t.units(d)
	for i := range t.sums {
		// Cannot fail: v is clamped into the histogram's trackable range
		// (TestRecordEveryRange checks the bounds of many configurations).
		_ = t.sums[i].RecordValue(v)
	}
	t.gen++
}

// Quantile returns the latency at percentile p over the samples of the last
// Windows windows as of now, and how many samples there are. The answer is
// the sample of rank max(1, round(p% × count)) in sorted order (nearest
// rank), reported as the upper edge of its histogram bucket, so it
// overstates the exact sample by less than the configured precision. p is
// clamped into [0, 100]; with no samples, or p NaN, d is 0.
//
// The result is cached until the next sample or rotation, so a worker may
// call it after every batch for free when nothing changed; otherwise it walks
// one histogram (about a microsecond at the default configuration).
func (t *Tracker) Quantile(p float64, now time.Time) (d time.Duration, count int64) {
	if t == nil {
		return 0, 0
	}
	t.advance(now)
	full := t.full()
	count = full.TotalCount()
	if count == 0 || math.IsNaN(p) {
		return 0, count
	}
	if t.cacheOK && t.cache.gen == t.gen && t.cache.p == p {
		return t.cache.d, count
	}
	q := min(max(p, 0), 100)
	// The library takes the sample of rank round(q% × count), which is 0 for
	// a low q over few samples and then answers 0; rank 1 (the smallest
	// sample) is the right answer there.
	if q/100*float64(count) < 0.5 {
		q = 100 / float64(count)
	}
	d = time.Duration(full.ValueAtQuantile(q)) * time.Microsecond
	d = min(d, t.cfg.Max) // the top bucket's upper edge may pass Max
	t.cache = cachedQuantile{gen: t.gen, p: p, d: d}
	t.cacheOK = true
	return d, count
}

// Count returns how many samples the last Windows windows hold as of now.
func (t *Tracker) Count(now time.Time) int64 {
	if t == nil {
		return 0
	}
	t.advance(now)
	return t.full().TotalCount()
}

// MemoryBytes estimates the Tracker's heap footprint: the histograms' counter
// arrays and headers plus the Tracker itself. At the default configuration it
// is about 61 KiB (3 × 2560 counters of 8 bytes).
func (t *Tracker) MemoryBytes() int {
	if t == nil {
		return 0
	}
	n := int(unsafe.Sizeof(*t))
	for i := range t.sums {
		// ByteSize counts the counters and (roughly) the header fields.
		n += int(unsafe.Sizeof(t.sums[i])) + t.sums[i].ByteSize()
	}
	return n
}

// full returns the histogram holding all Windows windows.
func (t *Tracker) full() *hdrhistogram.Histogram {
	return &t.sums[(t.head+len(t.sums)-1)%len(t.sums)]
}

// advance rotates the windows so that the current one contains now. A now
// before the current window's start (a clock stepping back) rotates nothing:
// the sample lands in the current window.
func (t *Tracker) advance(now time.Time) {
	elapsed := now.Sub(t.start)
	if elapsed < t.cfg.Window {
		return
	}
	k := elapsed / t.cfg.Window
	t.start = t.start.Add(k * t.cfg.Window)
	n := len(t.sums)
	if k > time.Duration(n) {
		k = time.Duration(n) // every window expired: clearing each once is enough
	}
	for range k {
		// The histogram of all windows is dropped: cleared, it becomes the
		// new current window and every other sum moves one window older.
		t.head = (t.head + n - 1) % n
		if h := &t.sums[t.head]; h.TotalCount() != 0 {
			h.Reset()
		}
	}
	t.gen++
}

// units converts d to the stored unit (µs, rounded), clamped into [Min, Max].
func (t *Tracker) units(d time.Duration) int64 {
	d = min(max(d, t.cfg.Min), t.cfg.Max)
	v := int64((d + time.Microsecond/2) / time.Microsecond)
	return min(max(v, t.minUS), t.maxUS)
}
