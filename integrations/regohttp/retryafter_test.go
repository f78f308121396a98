package regohttp_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/regoresilience/rego/integrations/regohttp"
)

var now = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// TestParseRetryAfter verifies both forms of the header, the caps and the
// rejections. The parser itself is fuzzed in internal/retryafter.
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
