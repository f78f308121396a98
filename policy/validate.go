package policy

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Validate reports what is wrong with p, or nil. It accepts zero fields (they
// mean "default" or "off") and values Normalize merely adjusts (MaxAttempts
// 11..1000 is capped to 10, MaxBackoff below InitialBackoff is raised, an
// AttemptTimeout beyond Timeout is lowered).
//
// It rejects: negative numbers and durations; durations over 24h;
// MaxAttempts over 1000 and MaxHedges over 100; a non-zero Multiplier that
// is NaN, infinite, below 1 or above 100; an undefined Jitter; a non-zero
// Percentile outside (0, 100); MinSamples over 1,000,000; hedging
// (MaxHedges > 0) without a Delay; a Breaker FailureRate outside [0, 100],
// or zero while other Breaker fields are set; Breaker MinCalls over
// 1,000,000, a Breaker Window below 10ms and HalfOpenProbes over 1000; and
// registry names that are not printable,
// have surrounding spaces or exceed 128 bytes.
//
// The error joins one *FieldError per problem (errors.Join), each with the
// field's JSON path, e.g. "retry.max_attempts: must be >= 1"; all match
// ErrInvalidPolicy.
func (p Policy) Validate() error {
	var l errList
	p.validate("", &l)
	return l.err()
}

// validate appends p's problems to l, prefixing every path with prefix
// (`policies["svc.Op"].` inside a Set).
func (p Policy) validate(prefix string, l *errList) {
	r, h := p.Retry, p.Hedge
	v := validator{prefix: prefix, l: l}

	if r.MaxAttempts < 0 {
		v.bad("retry.max_attempts", "must be >= 1")
	} else if r.MaxAttempts > maxAttemptsAccepted {
		v.bad("retry.max_attempts", "must be <= "+strconv.Itoa(maxAttemptsAccepted))
	}
	v.duration("retry.initial_backoff", r.InitialBackoff)
	v.duration("retry.max_backoff", r.MaxBackoff)
	v.multiplier("retry.multiplier", r.Multiplier)
	if !r.Jitter.valid() {
		v.bad("retry.jitter", jitterChoices(r.Jitter.String()))
	}
	v.duration("retry.attempt_timeout", r.AttemptTimeout)
	v.duration("retry.max_retry_after", r.MaxRetryAfter)

	if h.MaxHedges < 0 {
		v.bad("hedge.max_hedges", "must not be negative")
	} else if h.MaxHedges > maxHedgesAccepted {
		v.bad("hedge.max_hedges", "must be <= "+strconv.Itoa(maxHedgesAccepted))
	}
	if v.duration("hedge.delay", h.Delay) && h.MaxHedges > 0 && h.Delay == 0 {
		// Without a delay every hedge would start with the first attempt,
		// multiplying load on every call (and during percentile warm-up).
		v.bad("hedge.delay", "must be > 0 when max_hedges > 0")
	}
	switch pc := h.Percentile; {
	case math.IsNaN(pc) || math.IsInf(pc, 0):
		v.bad("hedge.percentile", "must be a finite number")
	case pc != 0 && !(pc > 0 && pc < 100):
		v.bad("hedge.percentile", "must be > 0 and < 100")
	}
	if h.MinSamples < 0 {
		v.bad("hedge.min_samples", "must not be negative")
	} else if h.MinSamples > maxMinSamples {
		v.bad("hedge.min_samples", "must be <= "+strconv.Itoa(maxMinSamples))
	}
	v.duration("hedge.min_delay", h.MinDelay)
	v.duration("hedge.max_delay", h.MaxDelay)

	p.Breaker.validate(v)

	v.duration("timeout", p.Timeout)
	v.name("classifier", p.Classifier)
	v.name("retry_budget", p.RetryBudget)
	v.name("hedge_budget", p.HedgeBudget)
}

func (b Breaker) validate(v validator) {
	switch fr := b.FailureRate; {
	case math.IsNaN(fr) || math.IsInf(fr, 0):
		v.bad("breaker.failure_rate", "must be a finite number")
	case fr < 0 || fr > 100:
		v.bad("breaker.failure_rate", "must be > 0 and <= 100")
	case fr == 0 && b != (Breaker{}):
		// The other fields would be silently ignored: the breaker is off.
		v.bad("breaker.failure_rate", "must be set when other breaker fields are (omit \"breaker\" to turn it off)")
	}
	if b.MinCalls < 0 {
		v.bad("breaker.min_calls", "must be >= 1")
	} else if b.MinCalls > maxMinCalls {
		v.bad("breaker.min_calls", "must be <= "+strconv.Itoa(maxMinCalls))
	}
	if v.duration("breaker.window", b.Window) && b.Window > 0 && b.Window < minBreakerWindow {
		v.bad("breaker.window", "must be >= "+minBreakerWindowText)
	}
	v.duration("breaker.open_duration", b.OpenDuration)
	if b.HalfOpenProbes < 0 {
		v.bad("breaker.half_open_probes", "must be >= 1")
	} else if b.HalfOpenProbes > maxHalfOpenProbes {
		v.bad("breaker.half_open_probes", "must be <= "+strconv.Itoa(maxHalfOpenProbes))
	}
}

// validateDecoded is validate for a policy just decoded into l, possibly
// with problems: every problem is reported in one pass, not the decoding
// ones first and the others on the next attempt. A field that failed to
// decode is zero, so a complaint about that zero (hedge.delay "must be > 0
// when max_hedges > 0" after a malformed delay) would repeat the decoding
// error and is left out.
func (p Policy) validateDecoded(prefix string, l *errList) {
	var v errList
	v.limit = -1
	p.validate(prefix, &v)
	for _, err := range v.errs {
		if fe, ok := err.(*FieldError); ok && l.reported(fe.Path) {
			continue
		}
		l.add(err)
	}
}

type validator struct {
	prefix string
	l      *errList
}

func (v validator) bad(path, msg string) { v.l.field(v.prefix+path, msg) }

// duration checks the range shared by every duration field and reports
// whether d was acceptable.
func (v validator) duration(path string, d time.Duration) bool {
	switch {
	case d < 0:
		v.bad(path, "must not be negative")
	case d > maxDuration:
		v.bad(path, "must be <= "+maxDurationText)
	default:
		return true
	}
	return false
}

func (v validator) multiplier(path string, m float64) {
	switch {
	case math.IsNaN(m) || math.IsInf(m, 0):
		v.bad(path, "must be a finite number")
	case m != 0 && m < 1:
		v.bad(path, "must be >= 1")
	case m > maxMultiplier:
		v.bad(path, "must be <= "+strconv.Itoa(maxMultiplier))
	}
}

func (v validator) name(path, s string) {
	if msg := registryNameProblem(s); msg != "" {
		v.bad(path, msg)
	}
}

// registryNameProblem checks a classifier or budget name. Names are looked
// up verbatim, so invisible differences (a trailing space, a control
// character) would silently select the fallback instead.
func registryNameProblem(s string) string {
	if len(s) > maxRegistryNameBytes {
		return "must be at most " + strconv.Itoa(maxRegistryNameBytes) + " bytes"
	}
	if !utf8.ValidString(s) {
		return "must be valid UTF-8"
	}
	if strings.TrimSpace(s) != s {
		return "must not start or end with whitespace"
	}
	for _, r := range s {
		if !unicode.IsPrint(r) && r != ' ' {
			return "must not contain non-printable character " + strconv.QuoteRune(r)
		}
	}
	return ""
}

// ValidateName checks a classifier or budget name as registered in code
// (engine.WithClassifier, engine.WithBudget): non-empty, and following the
// rule a policy document's classifier, retry_budget and hedge_budget names
// follow, so that every registered name can be named by a policy. The error
// wraps ErrInvalidPolicy.
func ValidateName(name string) error {
	msg := registryNameProblem(name)
	if name == "" {
		msg = "must not be empty"
	}
	if msg != "" {
		return fmt.Errorf("%w: name %q %s", ErrInvalidPolicy, name, msg)
	}
	return nil
}
