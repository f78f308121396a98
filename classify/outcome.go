package classify

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// Outcome is what an attempt's result means for the call.
// The zero value is [Success].
type Outcome uint8

const (
	// Success ends the call: the attempt's result is returned to the caller.
	Success Outcome = iota
	// Retryable means another attempt may succeed, budgets and deadline permitting.
	Retryable
	// Abort ends the call with the attempt's error: retrying cannot help, or
	// the caller no longer wants an answer.
	Abort
)

// ErrInvalidOutcome is returned by [Outcome.UnmarshalText] for unknown names.
var ErrInvalidOutcome = errors.New("classify: invalid outcome")

// String returns "success", "retryable" or "abort" ("outcome(N)" for values
// outside the defined set).
func (o Outcome) String() string {
	switch o {
	case Success:
		return "success"
	case Retryable:
		return "retryable"
	case Abort:
		return "abort"
	}
	return "outcome(" + strconv.Itoa(int(o)) + ")"
}

// MarshalText encodes the outcome as its String form, so outcomes read well
// in JSON and in structured logs.
func (o Outcome) MarshalText() ([]byte, error) {
	if o > Abort {
		return nil, fmt.Errorf("%w: %d", ErrInvalidOutcome, uint8(o))
	}
	return []byte(o.String()), nil
}

// UnmarshalText decodes "success", "retryable" or "abort".
func (o *Outcome) UnmarshalText(b []byte) error {
	switch string(b) {
	case "success":
		*o = Success
	case "retryable":
		*o = Retryable
	case "abort":
		*o = Abort
	default:
		return fmt.Errorf("%w: %q", ErrInvalidOutcome, b)
	}
	return nil
}

// Verdict is a classifier's decision about one attempt.
type Verdict struct {
	// Outcome says whether the call stops (Success, Abort) or may retry.
	Outcome Outcome
	// Reason is a short stable string (see the Reason constants) recorded on
	// the timeline and in logs; keep it low-cardinality (no error text, ids).
	Reason string
	// RetryAfter is server pushback: the wait before the next attempt must
	// last at least this long. 0 means none. Only meaningful with Retryable;
	// the engine caps it by the policy's Retry.MaxRetryAfter.
	RetryAfter time.Duration
}

// String renders the verdict for humans, e.g. "retryable retry_after 2s".
func (v Verdict) String() string {
	s := v.Outcome.String()
	if v.Reason != "" && v.Reason != s {
		s += " " + v.Reason
	}
	if v.RetryAfter > 0 {
		s += " " + v.RetryAfter.String()
	}
	return s
}

// Classifier decides the outcome of one attempt.
//
// Implementations are called on every attempt, possibly from several
// goroutines at once (hedged attempts): they must be safe for concurrent use,
// must not block, and should not allocate.
type Classifier interface {
	// Classify returns the verdict for an attempt that returned err (nil on
	// success).
	//
	// ctx is the CALLER's context, not the attempt's: it lets a classifier
	// tell the caller giving up (ctx done: abort) from an attempt's own
	// timeout (ctx alive: retry). It may be nil; treat nil as never done.
	Classify(ctx context.Context, err error) Verdict
}

// Func adapts an ordinary function to the [Classifier] interface.
// A nil Func behaves as [Default].
type Func func(ctx context.Context, err error) Verdict

// Classify calls f(ctx, err), or Default when f is nil.
func (f Func) Classify(ctx context.Context, err error) Verdict {
	if f == nil {
		return Default.Classify(ctx, err)
	}
	return f(ctx, err)
}
