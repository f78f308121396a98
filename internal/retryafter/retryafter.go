// Package retryafter parses the value of an HTTP Retry-After header. It is the
// one parser behind controlplane's remote provider and integrations/regohttp,
// so that both read the header the same way; each applies its own cap.
package retryafter

import (
	"math"
	"net/http"
	"strings"
	"time"
)

// maxSeconds is the largest delay-seconds value a time.Duration can hold.
// Accumulation stops growing past it, which also keeps the uint64 from
// overflowing whatever the number of digits.
const maxSeconds = uint64(math.MaxInt64 / int64(time.Second))

// Parse parses the value of a Retry-After header (RFC 9110 section 10.2.3)
// into the wait it asks for, measured from now.
//
// The value is either delay-seconds, a non-negative decimal integer ("120"),
// or an HTTP-date in one of the three formats of http.ParseTime
// ("Wed, 21 Oct 2015 07:28:00 GMT"). Surrounding spaces and tabs are ignored;
// anything else (a sign, a fraction, a unit, inner spaces, an empty value) is
// rejected with ok == false and d == 0. A date at or before now asks for no
// wait: (0, true). The wait is not capped (callers apply their own limit);
// values beyond what a time.Duration holds saturate at math.MaxInt64.
//
// Parse never panics and does not allocate for delay-seconds.
func Parse(v string, now time.Time) (d time.Duration, ok bool) {
	v = strings.Trim(v, " \t")
	if v == "" {
		return 0, false
	}
	if secs, ok := delaySeconds(v); ok {
		if secs > maxSeconds {
			return math.MaxInt64, true
		}
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
	return d, true
}

// delaySeconds parses 1*DIGIT. Past maxSeconds the result only stays above
// it (it is not the exact value), which is all Parse needs to saturate.
func delaySeconds(v string) (uint64, bool) {
	var n uint64
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		if n <= maxSeconds {
			n = n*10 + uint64(c-'0')
		}
	}
	return n, true
}
