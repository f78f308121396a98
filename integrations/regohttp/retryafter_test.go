package regohttp_test

import (
	"math"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/regoresilience/rego/integrations/regohttp"
)

var now = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// TestParseRetryAfter verifies both forms of the header, the caps and the
// rejections.
func TestParseRetryAfter(t *testing.T) {
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
		{"86400", 24 * time.Hour, true},
		{"86401", regohttp.MaxRetryAfter, true},
		{"99999999999999999999999999999999", regohttp.MaxRetryAfter, true},
		{"", 0, false},
		{"   ", 0, false},
		{"-1", 0, false},
		{"+1", 0, false},
		{"1.5", 0, false},
		{"1 2", 0, false},
		{"10s", 0, false},
		{"0x10", 0, false},
		{"１", 0, false}, // a full-width digit is not a DIGIT
		{date(90 * time.Second), 90 * time.Second, true},
		{date(-time.Hour), 0, true},
		{date(0), 0, true},
		{date(48 * time.Hour), regohttp.MaxRetryAfter, true},
		{now.Add(30 * time.Second).Format(time.RFC850), 30 * time.Second, true},
		{now.Add(30 * time.Second).Format(time.ANSIC), 30 * time.Second, true},
		{"Sat, 01 Mar 2025 12:00:10 UTC", 0, false}, // not GMT: not an HTTP-date
		{"Sat, 01 Mar 2025 12:00:10", 0, false},
		{"tomorrow", 0, false},
	} {
		got, ok := regohttp.ParseRetryAfter(tc.in, now)
		if got != tc.want || ok != tc.ok {
			t.Errorf("ParseRetryAfter(%q) = %v, %v; want %v, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

// FuzzParseRetryAfter checks ParseRetryAfter against a reference for
// delay-seconds and its general promises for everything else: no panic, a wait
// within [0, MaxRetryAfter], nothing accepted with inner spaces or signs.
func FuzzParseRetryAfter(f *testing.F) {
	for _, s := range []string{"0", "120", "-1", "1.5", "Wed, 21 Oct 2015 07:28:00 GMT"} {
		f.Add(s, now.Unix())
	}
	f.Fuzz(func(t *testing.T, v string, nowUnix int64) {
		at := time.Unix(nowUnix, 0)
		d, ok := regohttp.ParseRetryAfter(v, at)
		if d < 0 || d > regohttp.MaxRetryAfter {
			t.Fatalf("ParseRetryAfter(%q) = %v: out of [0, %v]", v, d, regohttp.MaxRetryAfter)
		}
		if !ok && d != 0 {
			t.Fatalf("ParseRetryAfter(%q) = %v, false: want 0 when not ok", v, d)
		}
		trimmed := strings.Trim(v, " \t")
		if ref, isNum := refDelaySeconds(trimmed); isNum {
			if !ok || d != ref {
				t.Fatalf("ParseRetryAfter(%q) = %v, %v; want %v, true", v, d, ok, ref)
			}
			return
		}
		if ok && (strings.HasPrefix(trimmed, "+") || strings.HasPrefix(trimmed, "-")) {
			t.Fatalf("ParseRetryAfter(%q) accepted a sign", v)
		}
		if ok {
			// Only an HTTP-date is left; it must parse as one.
			if _, err := http.ParseTime(trimmed); err != nil {
				t.Fatalf("ParseRetryAfter(%q) = %v, true but it is not an HTTP-date: %v", v, d, err)
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
		return regohttp.MaxRetryAfter, true // too large for an integer: capped
	}
	return min(time.Duration(n)*time.Second, regohttp.MaxRetryAfter), true
}
