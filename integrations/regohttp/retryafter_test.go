package regohttp_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/regoresilience/rego/integrations/regohttp"
)

var now = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// TestParseRetryAfter verifies what ParseRetryAfter adds to the shared parser:
// the cap at MaxRetryAfter on both forms of the header. The parser itself
// (the forms, the rejections, saturation) is tested and fuzzed in
// internal/retryafter; a few values here check that its answers pass through.
func TestParseRetryAfter(t *testing.T) {
	date := func(d time.Duration) string { return now.Add(d).Format(http.TimeFormat) }
	for _, tc := range []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"120", 2 * time.Minute, true},
		{"86400", 24 * time.Hour, true},
		{"86401", regohttp.MaxRetryAfter, true},
		{"99999999999999999999999999999999", regohttp.MaxRetryAfter, true},
		{"-1", 0, false},
		{"tomorrow", 0, false},
		{date(90 * time.Second), 90 * time.Second, true},
		{date(-time.Hour), 0, true},
		{date(48 * time.Hour), regohttp.MaxRetryAfter, true},
	} {
		got, ok := regohttp.ParseRetryAfter(tc.in, now)
		if got != tc.want || ok != tc.ok {
			t.Errorf("ParseRetryAfter(%q) = %v, %v; want %v, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}
