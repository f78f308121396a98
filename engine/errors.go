package engine

import (
	"errors"
	"fmt"
	"strings"

	"github.com/regoresilience/rego/policy"
)

// Sentinel errors returned by the engine. Compare with errors.Is.
var (
	// ErrClosed is returned by calls made after Close, and by calls whose backoff or
	// hedge wait was interrupted by Close.
	ErrClosed = errors.New("rego: executor closed")
	// ErrNilOp is returned when the operation passed to Do is nil.
	ErrNilOp = errors.New("rego: nil operation")
	// ErrNilContext is returned when the context passed to Do is nil.
	ErrNilContext = errors.New("rego: nil context")
	// ErrInvalidOption is wrapped by every error New returns for a bad option.
	ErrInvalidOption = errors.New("rego: invalid option")
)

// Stop reasons carried by Error.Reason. They are short, stable strings meant for
// metrics labels and log fields.
const (
	StopAbort    = "abort"     // the classifier said the error is not worth retrying
	StopAttempts = "exhausted" // MaxAttempts were used
	StopBudget   = "budget"    // the retry budget refused another attempt
	StopDeadline = "deadline"  // the next attempt could not finish before the deadline
	StopCanceled = "canceled"  // the caller's context ended the call
	StopClosed   = "closed"    // the executor was closed during the call
)

// Error is returned when a call fails. It wraps the last attempt's error, so
// errors.Is and errors.As reach it, and, when the caller's context ended the call,
// the context's error too (errors.Is(err, context.Canceled) holds after a cancel).
type Error struct {
	Key      policy.Key
	Attempts int    // attempts started, hedges included
	Reason   string // why rego stopped: one of the Stop* constants
	Err      error  // the last attempt's error; nil if no attempt ran
	Cause    error  // what ended the call besides the attempts: the context's error, ErrClosed, ErrThrottled or ErrBreakerOpen; else nil
}

// Error formats the failure in one line: key, reason, attempts and the last error.
func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "rego: %s: %s after %d attempt", e.Key, e.Reason, e.Attempts)
	if e.Attempts != 1 {
		b.WriteByte('s')
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	if e.Cause != nil && (e.Err == nil || !errors.Is(e.Err, e.Cause)) {
		b.WriteString(" (")
		b.WriteString(e.Cause.Error())
		b.WriteByte(')')
	}
	return b.String()
}

// Unwrap returns the last attempt's error and the cause, whichever are set.
func (e *Error) Unwrap() []error {
	switch {
	case e.Err != nil && e.Cause != nil:
		return []error{e.Err, e.Cause}
	case e.Err != nil:
		return []error{e.Err}
	case e.Cause != nil:
		return []error{e.Cause}
	}
	return nil
}

// PanicError is the FinalErr of the timeline of a call that panicked in the
// op (or in a classifier or budget called in the caller's goroutine), or
// whose op called runtime.Goexit (Value is then ErrGoexit). The panic itself
// is re-raised in the caller's goroutine after the observers ran; this value
// only lets a timeline (and OnFailure) say what happened.
type PanicError struct {
	Value any    // what was passed to panic, or ErrGoexit
	Stack []byte // the panicking goroutine's stack
}

// Error reports the panic value.
func (e *PanicError) Error() string {
	if e.Value == ErrGoexit {
		return ErrGoexit.Error()
	}
	return fmt.Sprintf("rego: panic: %v", e.Value)
}
