package controlplane

import (
	"errors"
	"net/http"
	"testing"
	"time"
)

// TestNextDelay checks the schedule against its definition: the refresh
// interval ±10% while healthy; initial·2^(n-1) capped, with equal jitter, while
// failing; Retry-After honoured up to the cap.
func TestNextDelay(t *testing.T) {
	const (
		refresh = 30 * time.Second
		initial = time.Second
		limit   = 20 * time.Second
	)
	tests := []struct {
		failures   int
		retryAfter time.Duration
		u          float64
		want       time.Duration
	}{
		{0, 0, 0, 27 * time.Second},
		{0, 0, 0.5, 30 * time.Second},
		{0, 0, 0.9999999, 33*time.Second - 600*time.Nanosecond},
		{0, time.Hour, 0.5, 30 * time.Second}, // pushback matters only while failing
		{1, 0, 0, 500 * time.Millisecond},
		{1, 0, 0.5, 750 * time.Millisecond},
		{2, 0, 0, time.Second},
		{3, 0, 0, 2 * time.Second},
		{5, 0, 0, 8 * time.Second},
		{6, 0, 0, 10 * time.Second}, // 32s capped at 20s, then halved
		{1000, 0, 0, 10 * time.Second},
		{1 << 30, 0, 0.5, 15 * time.Second},
		{1, 5 * time.Second, 0, 5 * time.Second},
		{1, time.Hour, 0, limit},
	}
	for _, tt := range tests {
		got := nextDelay(tt.failures, refresh, initial, limit, tt.retryAfter, tt.u)
		if diff := got - tt.want; diff < -time.Microsecond || diff > time.Microsecond {
			t.Errorf("nextDelay(failures=%d, retryAfter=%v, u=%v) = %v, want %v",
				tt.failures, tt.retryAfter, tt.u, got, tt.want)
		}
	}
	// Huge durations must not overflow.
	if got := nextDelay(80, 0, time.Duration(1<<62), time.Duration(1<<62+1<<61), 0, 0.99); got <= 0 {
		t.Errorf("overflow: %v", got)
	}
}

// TestRemoteRetryAfterIsHonoured verifies that a 503's Retry-After is kept for
// the next scheduled delay.
func TestRemoteRetryAfterIsHonoured(t *testing.T) {
	cp := newFakeControlPlane(t, serveDoc(docV2, `"v2"`))
	p, _ := newRemoteProvider(t, cp.URL(), WithBackoff(time.Millisecond, time.Minute), withRand(func() float64 { return 0 }))
	cp.set(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "7")
		w.WriteHeader(http.StatusServiceUnavailable)
	})
	if err := reload(t, p); !errors.Is(err, ErrBadStatus) {
		t.Fatalf("Reload = %v", err)
	}
	if got := p.nextDelay(); got != 7*time.Second {
		t.Errorf("nextDelay = %v, want 7s", got)
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	for v, want := range map[string]time.Duration{
		"":                              0,
		"3":                             3 * time.Second,
		"0":                             0,
		"-1":                            0,
		"999999999999":                  0,
		"soon":                          0,
		"Tue, 01 Jan 2030 00:00:10 GMT": 10 * time.Second,
		"Mon, 31 Dec 2029 00:00:10 GMT": 0,
	} {
		if got := parseRetryAfter(v, now); got != want {
			t.Errorf("parseRetryAfter(%q) = %v, want %v", v, got, want)
		}
	}
}

func TestCheckContentType(t *testing.T) {
	for ct, ok := range map[string]bool{
		"":                                true,
		"application/json":                true,
		"application/json; charset=utf-8": true,
		"Application/JSON":                true,
		"text/plain":                      false,
		"application/jsonx":               false,
		"application/json; =":             false,
	} {
		err := checkContentType(ct)
		if (err == nil) != ok || (err != nil && !errors.Is(err, ErrBadContentType)) {
			t.Errorf("checkContentType(%q) = %v", ct, err)
		}
	}
}

// TestBackoffValidate verifies the rule WithBackoff and regoetcd.WithBackoff
// share: 0 < Initial <= Max, else an error wrapping ErrInvalidOption.
func TestBackoffValidate(t *testing.T) {
	for _, b := range []Backoff{{time.Second, time.Second}, {time.Nanosecond, time.Hour}} {
		if err := b.Validate(); err != nil {
			t.Errorf("%+v: %v", b, err)
		}
	}
	for _, b := range []Backoff{{0, time.Second}, {-time.Second, time.Second}, {time.Second, time.Millisecond}, {}} {
		if err := b.Validate(); !errors.Is(err, ErrInvalidOption) {
			t.Errorf("%+v: got %v, want ErrInvalidOption", b, err)
		}
	}
}

// TestBackoffDelayHugeMax verifies that doubling stops at Max without
// overflowing, for a Max near the largest Duration.
func TestBackoffDelayHugeMax(t *testing.T) {
	b := Backoff{Initial: time.Duration(1 << 61), Max: time.Duration(1<<62 + 1<<61)}
	for _, n := range []int{1, 2, 3, 4, 100} {
		if d := b.Delay(n, 0.999); d < b.Initial/2 || d > b.Max {
			t.Errorf("Delay(%d) = %v, want within [%v, %v]", n, d, b.Initial/2, b.Max)
		}
	}
}
