package policy

import (
	"fmt"
	"time"
)

// ParseDuration parses a Go duration string ("250ms", "1.5s", "2m") like
// time.ParseDuration, and rejects negative durations: no policy field has a
// meaning for them. Errors match ErrInvalidDuration.
//
// ParseDuration does not apply the policy limits (such as 24h); Validate does.
func ParseDuration(s string) (time.Duration, error) {
	d, msg := parseDuration(s)
	if msg != "" {
		return 0, fmt.Errorf("%w: %s", ErrInvalidDuration, msg)
	}
	return d, nil
}

// parseDuration returns the duration, or a message for a FieldError.
func parseDuration(s string) (time.Duration, string) {
	d, err := time.ParseDuration(s)
	if err != nil {
		// time's own message repeats s unbounded; keep ours short.
		return 0, quoteShort(s) + ` is not a Go duration such as "250ms" or "1.5s"`
	}
	if d < 0 {
		return 0, "must not be negative (got " + quoteShort(s) + ")"
	}
	return d, ""
}
