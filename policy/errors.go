package policy

import (
	"errors"
	"strconv"
	"strings"
)

// Sentinel errors. Every error this package returns matches one of them with
// errors.Is, so callers can branch on the kind of problem without parsing text.
var (
	// ErrInvalidKey is matched by every error from Key.Validate.
	ErrInvalidKey = errors.New("policy: invalid key")

	// ErrHighCardinalityKey is matched, in addition to ErrInvalidKey, by keys
	// that look like they carry request data (IDs, paths, query strings, free
	// text). Each distinct key gets its own worker, latency tracker and
	// budgets, so such keys would grow memory without bound.
	ErrHighCardinalityKey = errors.New("policy: key looks high-cardinality")

	// ErrInvalidPolicy is matched by every error from Policy.Validate,
	// Policy.UnmarshalJSON, NewSet and ParseDocument.
	ErrInvalidPolicy = errors.New("policy: invalid policy")

	// ErrInvalidPattern is matched (together with ErrInvalidPolicy) by
	// errors from ValidatePattern.
	ErrInvalidPattern = errors.New("policy: invalid pattern")

	// ErrInvalidDuration is matched by errors from ParseDuration.
	ErrInvalidDuration = errors.New("policy: invalid duration")
)

// KeyError describes why Key.Validate rejected a key.
//
// errors.Is(err, ErrInvalidKey) is always true for a *KeyError; Err says
// whether the key was also judged high-cardinality (ErrHighCardinalityKey).
type KeyError struct {
	Key    string // the key as written (Key.String())
	Reason string // human-readable, e.g. "contains '/'"
	Err    error  // ErrInvalidKey or ErrHighCardinalityKey
}

// Error implements error. Very long keys are shortened in the message; the
// Key field keeps the full text.
func (e *KeyError) Error() string {
	what := "invalid key"
	if e.Err == ErrHighCardinalityKey {
		what = "high-cardinality key"
	}
	return "policy: " + what + " " + quoteShort(e.Key) + ": " + e.Reason
}

// Unwrap returns Err.
func (e *KeyError) Unwrap() error { return e.Err }

// Is reports true for ErrInvalidKey: every KeyError is an invalid key, even
// when Err is the more specific ErrHighCardinalityKey.
func (e *KeyError) Is(target error) bool { return target == ErrInvalidKey }

// FieldError is one problem with one field of a policy. Path names the
// field with its JSON names, prefixed by the pattern when the policy belongs
// to a Set: `policies["svc.Op"].retry.max_attempts`.
//
// errors.Is(err, ErrInvalidPolicy) is true for every *FieldError. Policy
// validation joins several FieldErrors with errors.Join; use errors.As to
// get the first, or walk the joined error's Unwrap() []error for all.
type FieldError struct {
	Path string // e.g. "retry.max_attempts"
	Msg  string // e.g. "must be >= 1"
}

// Error implements error: Path + ": " + Msg.
func (e *FieldError) Error() string {
	if e.Path == "" {
		return e.Msg
	}
	return e.Path + ": " + e.Msg
}

// Is reports true for ErrInvalidPolicy.
func (e *FieldError) Is(target error) bool { return target == ErrInvalidPolicy }

// PatternError describes why ValidatePattern rejected a policy pattern.
// It matches ErrInvalidPattern and ErrInvalidPolicy with errors.Is; when the
// literal part of the pattern is not a valid key, Err is the *KeyError (so
// ErrInvalidKey / ErrHighCardinalityKey match too).
type PatternError struct {
	Pattern string
	Reason  string
	Err     error // optional cause, e.g. a *KeyError
}

// Error implements error.
func (e *PatternError) Error() string {
	return "invalid pattern " + quoteShort(e.Pattern) + ": " + e.Reason
}

// Unwrap returns the cause, if any.
func (e *PatternError) Unwrap() error { return e.Err }

// Is reports true for ErrInvalidPattern and ErrInvalidPolicy.
func (e *PatternError) Is(target error) bool {
	return target == ErrInvalidPattern || target == ErrInvalidPolicy
}

// maxErrors bounds how many problems one validation reports, so a huge bad
// document produces a readable error instead of megabytes of text.
const maxErrors = 20

// errList collects problems in order and joins them, truncating past its
// limit (maxErrors unless set).
type errList struct {
	errs    []error
	dropped int
	limit   int      // 0 = maxErrors; < 0 = no limit
	paths   []string // the Path of every FieldError added, dropped ones included
}

func (l *errList) add(err error) {
	if fe, ok := err.(*FieldError); ok {
		l.paths = append(l.paths, fe.Path)
	}
	limit := l.limit
	if limit == 0 {
		limit = maxErrors
	}
	if limit > 0 && len(l.errs) >= limit {
		l.dropped++
		return
	}
	l.errs = append(l.errs, err)
}

func (l *errList) field(path, msg string) { l.add(&FieldError{Path: path, Msg: msg}) }

// n counts every problem added, including those dropped from the message.
func (l *errList) n() int { return len(l.errs) + l.dropped }

// reported reports whether a FieldError with this path was added.
func (l *errList) reported(path string) bool {
	for _, p := range l.paths {
		if p == path {
			return true
		}
	}
	return false
}

func (l *errList) err() error {
	if len(l.errs) == 0 {
		return nil
	}
	errs := l.errs
	if l.dropped > 0 {
		errs = append(errs[:len(errs):len(errs)],
			&FieldError{Msg: "and " + strconv.Itoa(l.dropped) + " more problems"})
	}
	return errors.Join(errs...)
}

// quoteShort quotes s for an error message, eliding the middle of very long
// strings (keys and patterns can be attacker-sized input).
func quoteShort(s string) string {
	const max = 80
	if len(s) <= max {
		return strconv.Quote(s)
	}
	// Cut on rune boundaries so the quoted text stays valid UTF-8.
	head, tail := s[:max/2], s[len(s)-max/2:]
	head = strings.ToValidUTF8(head, "")
	tail = strings.ToValidUTF8(tail, "")
	return strconv.Quote(head) + "…" + strconv.Quote(tail) + " (" + strconv.Itoa(len(s)) + " bytes)"
}
