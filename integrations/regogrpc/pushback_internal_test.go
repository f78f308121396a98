package regogrpc

import (
	"strconv"
	"testing"
	"time"
)

func TestParsePushback(t *testing.T) {
	for _, tt := range []struct {
		values []string
		wait   time.Duration
		kind   pushback
	}{
		{nil, 0, pushbackNone},
		{[]string{"0"}, 0, pushbackRetry},
		{[]string{"250"}, 250 * time.Millisecond, pushbackRetry},
		{[]string{"+7"}, 7 * time.Millisecond, pushbackRetry},
		{[]string{"86400000"}, maxPushback, pushbackRetry},
		{[]string{"9223372036854775807"}, maxPushback, pushbackRetry},
		{[]string{"9223372036854775808"}, 0, pushbackStop},
		{[]string{"-1"}, 0, pushbackStop},
		{[]string{""}, 0, pushbackStop},
		{[]string{"1.5"}, 0, pushbackStop},
		{[]string{" 5"}, 0, pushbackStop},
		{[]string{"soon"}, 0, pushbackStop},
		{[]string{"1", "2"}, 0, pushbackStop},
	} {
		if wait, kind := parsePushback(tt.values); wait != tt.wait || kind != tt.kind {
			t.Errorf("parsePushback(%q) = %v, %v; want %v, %v", tt.values, wait, kind, tt.wait, tt.kind)
		}
	}
}

// FuzzParsePushback checks parsePushback against strconv.Atoi, the reading
// grpc-go's own retries use: the same values retry, with the same wait up to
// the cap, and nothing panics.
func FuzzParsePushback(f *testing.F) {
	for _, s := range []string{"0", "1", "-1", "250", "+3", "", "abc", "1e3", "99999999999999999999", " 1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		wait, kind := parsePushback([]string{s})
		n, err := strconv.Atoi(s)
		switch {
		case err != nil || n < 0:
			if kind != pushbackStop || wait != 0 {
				t.Fatalf("parsePushback(%q) = %v, %v; want stop", s, wait, kind)
			}
		case kind != pushbackRetry:
			t.Fatalf("parsePushback(%q) = %v; want retry", s, kind)
		case wait < 0 || wait > maxPushback:
			t.Fatalf("parsePushback(%q) = %v, outside [0, %v]", s, wait, maxPushback)
		case n < int(maxPushback/time.Millisecond) && wait != time.Duration(n)*time.Millisecond:
			t.Fatalf("parsePushback(%q) = %v, want %dms", s, wait, n)
		}
	})
}
