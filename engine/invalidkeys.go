package engine

import (
	"sync"
	"time"

	"github.com/regoresilience/rego/policy"
)

// invalidKeyWarnings is how many invalid keys badKeyLog names a minute; past
// that it counts the keys it leaves out and says so in its next warning.
const invalidKeyWarnings = 10

// badKeyMemory bounds how many distinct invalid keys badKeyLog remembers as
// already named; past it, it forgets them all and starts again.
const badKeyMemory = 1024

// badKeyLog logs the invalid keys that InvalidKeyOverflow lets through:
// each distinct key once, at most invalidKeyWarnings a minute, so that a
// second typo is not hidden behind the first and a flood of keys built
// from request data does not flood the log. It runs only on the path of
// invalid keys, which is never the fast one; mu guards every field.
type badKeyLog struct {
	mu         sync.Mutex
	seen       map[policy.Key]struct{}
	window     time.Time // start of the current minute of warnings
	logged     int       // warnings logged in the window
	suppressed int       // distinct keys not logged since the last warning
}

// warnInvalidKey logs key, which failed Validate with err, if it is new and
// the rate allows.
func (e *Engine) warnInvalidKey(key policy.Key, err error) {
	l := &e.badKeys
	now := e.clock.Now()
	l.mu.Lock()
	if _, ok := l.seen[key]; ok {
		l.mu.Unlock()
		return
	}
	if l.seen == nil || len(l.seen) >= badKeyMemory {
		l.seen = make(map[policy.Key]struct{})
	}
	l.seen[key] = struct{}{}
	if now.Sub(l.window) >= time.Minute {
		l.window, l.logged = now, 0
	}
	if l.logged >= invalidKeyWarnings {
		l.suppressed++
		l.mu.Unlock()
		return
	}
	l.logged++
	suppressed := l.suppressed
	l.suppressed = 0
	l.mu.Unlock()
	e.logger.Warn("rego: invalid policy key; the call runs the default policy on the overflow worker (WithInvalidKeys(InvalidKeyOverflow))",
		"key", key.String(), "err", err, "suppressed_keys", suppressed)
}
