package regohttp

import (
	"net/http"
	"strings"
	"time"
)

// MaxRetryAfter caps what ParseRetryAfter returns: a server asking for a wait
// longer than a day is treated as asking for a day. The engine caps it further
// by the policy's Retry.MaxRetryAfter (30s by default).
const MaxRetryAfter = 24 * time.Hour

// maxRetryAfterSeconds is MaxRetryAfter in whole seconds: any delay-seconds
// value above it is capped, which also keeps the accumulation below from
// overflowing whatever the number of digits.
const maxRetryAfterSeconds = uint64(MaxRetryAfter / time.Second)

// ParseRetryAfter parses the value of a Retry-After header (RFC 9110 section
// 10.2.3) into the wait it asks for, measured from now.
//
// The value is either delay-seconds, a non-negative decimal integer ("120"),
// or an HTTP-date in one of the three formats of http.ParseTime
// ("Wed, 21 Oct 2015 07:28:00 GMT"). Surrounding spaces and tabs are ignored;
// anything else (a sign, a fraction, a unit, inner spaces, an empty value) is
// rejected with ok == false. A date in the past, or equal to now, asks for no
// wait: (0, true). Waits above MaxRetryAfter, including delay-seconds too large
// for an integer, are capped at MaxRetryAfter.
//
// ParseRetryAfter never panics and does not allocate for delay-seconds.
func ParseRetryAfter(v string, now time.Time) (d time.Duration, ok bool) {
	v = strings.Trim(v, " \t")
	if v == "" {
		return 0, false
	}
	if secs, ok := delaySeconds(v); ok {
		return time.Duration(secs) * time.Second, true
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	d = t.Sub(now) // saturates instead of overflowing
	if d <= 0 {
		return 0, true
	}
	return min(d, MaxRetryAfter), true
}

// delaySeconds parses 1*DIGIT, capped at maxRetryAfterSeconds.
func delaySeconds(v string) (uint64, bool) {
	var n uint64
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		if n <= maxRetryAfterSeconds {
			n = n*10 + uint64(c-'0')
		}
	}
	return min(n, maxRetryAfterSeconds), true
}
