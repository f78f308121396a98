package retryafter_test

import (
	"math"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/regoresilience/rego/internal/retryafter"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var now = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// TestParse verifies both forms of the header, saturation and the rejections.
func TestParse(t *testing.T) {
	date := func(d time.Duration) string { return now.Add(d).Format(http.TimeFormat) }
	for _, tc := range []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"0", 0, true},
		{"1", time.Second, true},
		{"120", 2 * time.Minute, true},
		{"  7\t", 7 * time.Second, true},
		{"007", 7 * time.Second, true},
		{"86401", 86401 * time.Second, true}, // not capped: callers cap
		{"9223372036", 9223372036 * time.Second, true},
		{"9223372037", math.MaxInt64, true}, // one second more than a Duration holds
		{"99999999999999999999999999999999", math.MaxInt64, true},
		{"", 0, false},
		{"   ", 0, false},
		{"-1", 0, false},
		{"+1", 0, false},
		{"1.5", 0, false},
		{"1 2", 0, false},
		{"10s", 0, false},
		{"0x10", 0, false},
		{"soon", 0, false},
		{"１", 0, false}, // a full-width digit is not a DIGIT
		{date(90 * time.Second), 90 * time.Second, true},
		{date(-time.Hour), 0, true},
		{date(0), 0, true},
		{date(48 * time.Hour), 48 * time.Hour, true},
		{now.Add(30 * time.Second).Format(time.RFC850), 30 * time.Second, true},
		{now.Add(30 * time.Second).Format(time.ANSIC), 30 * time.Second, true},
		{"Sat, 01 Mar 2025 12:00:10 UTC", 0, false}, // not GMT: not an HTTP-date
		{"Sat, 01 Mar 2025 12:00:10", 0, false},
	} {
		got, ok := retryafter.Parse(tc.in, now)
		if got != tc.want || ok != tc.ok {
			t.Errorf("Parse(%q) = %v, %v; want %v, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

// TestParseDoesNotAllocate verifies the promise for delay-seconds.
func TestParseDoesNotAllocate(t *testing.T) {
	if n := testing.AllocsPerRun(100, func() { retryafter.Parse(" 120", now) }); n != 0 {
		t.Errorf("Parse allocates %v times per delay-seconds value", n)
	}
}

// FuzzParse checks Parse against a reference for delay-seconds and its
// general promises for everything else: no panic, no negative wait, nothing
// but (0, false) when rejected, nothing accepted with a sign or that is not
// an HTTP-date.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"0", "120", "-1", "1.5", "Wed, 21 Oct 2015 07:28:00 GMT"} {
		f.Add(s, now.Unix())
	}
	f.Fuzz(func(t *testing.T, v string, nowUnix int64) {
		at := time.Unix(nowUnix, 0)
		d, ok := retryafter.Parse(v, at)
		if d < 0 {
			t.Fatalf("Parse(%q) = %v: negative", v, d)
		}
		if !ok && d != 0 {
			t.Fatalf("Parse(%q) = %v, false: want 0 when not ok", v, d)
		}
		trimmed := strings.Trim(v, " \t")
		if ref, isNum := refDelaySeconds(trimmed); isNum {
			if !ok || d != ref {
				t.Fatalf("Parse(%q) = %v, %v; want %v, true", v, d, ok, ref)
			}
			return
		}
		if ok && (strings.HasPrefix(trimmed, "+") || strings.HasPrefix(trimmed, "-")) {
			t.Fatalf("Parse(%q) accepted a sign", v)
		}
		if ok {
			// Only an HTTP-date is left; it must parse as one, to the same wait.
			tm, err := http.ParseTime(trimmed)
			if err != nil {
				t.Fatalf("Parse(%q) = %v, true but it is not an HTTP-date: %v", v, d, err)
			}
			if want := max(tm.Sub(at), 0); d != want {
				t.Fatalf("Parse(%q) = %v; want %v", v, d, want)
			}
		}
	})
}

// refDelaySeconds is the obvious delay-seconds parser, for comparison.
func refDelaySeconds(s string) (time.Duration, bool) {
	if s == "" {
		return 0, false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil || n > math.MaxInt64/uint64(time.Second) {
		return math.MaxInt64, true // too large for a Duration: saturated
	}
	return time.Duration(n) * time.Second, true
}
