package regohttp

import (
	"time"

	"github.com/regoresilience/rego/internal/retryafter"
)

// MaxRetryAfter caps what ParseRetryAfter returns: a server asking for a wait
// longer than a day is treated as asking for a day. The engine caps it further
// by the policy's Retry.MaxRetryAfter (30s by default).
const MaxRetryAfter = 24 * time.Hour

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
	d, ok = retryafter.Parse(v, now)
	return min(d, MaxRetryAfter), ok
}
