package classify

import (
	"context"
	"time"
)

// PermanentError marks an error that retrying cannot fix. Create it with
// [Permanent]; detect it with [IsPermanent] or errors.As.
//
// The mark is transparent: Error returns the wrapped error's text unchanged
// and Unwrap returns the wrapped error, so errors.Is and errors.As reach it.
type PermanentError struct {
	// Err is the error being marked.
	Err error
}

// Error returns the wrapped error's message.
func (e *PermanentError) Error() string {
	if e == nil || e.Err == nil {
		return "permanent error"
	}
	return e.Err.Error()
}

// Unwrap returns the wrapped error.
func (e *PermanentError) Unwrap() error {
	if e == nil {
		return nil
	}
	return e.Err
}

// RetryAfterError carries server pushback: the next attempt must not start
// before After has passed. Create it with [RetryAfter]; read it with
// [RetryAfterOf] or errors.As.
//
// Like [PermanentError] the mark is transparent: Error returns the wrapped
// error's text and Unwrap returns the wrapped error.
type RetryAfterError struct {
	// Err is the error being marked.
	Err error
	// After is the minimum wait the server asked for.
	After time.Duration
}

// Error returns the wrapped error's message.
func (e *RetryAfterError) Error() string {
	if e == nil || e.Err == nil {
		return "retry after " + e.after().String()
	}
	return e.Err.Error()
}

func (e *RetryAfterError) after() time.Duration {
	if e == nil {
		return 0
	}
	return e.After
}

// Unwrap returns the wrapped error.
func (e *RetryAfterError) Unwrap() error {
	if e == nil {
		return nil
	}
	return e.Err
}

// Permanent marks err as not worth retrying: the default classifier aborts
// the call on it, wherever it sits in the error tree (wrapped with %w or
// inside errors.Join). Permanent(nil) is nil; an error that is already a
// *PermanentError is returned as is.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := err.(*PermanentError); ok {
		return err
	}
	return &PermanentError{Err: err}
}

// IsPermanent reports whether err's tree contains a [PermanentError].
func IsPermanent(err error) bool {
	if err == nil {
		return false
	}
	var m marks
	m.scan(err, true)
	return m.permanent
}

// RetryAfter marks err with server pushback: the default classifier retries
// it, and the engine waits at least d (capped by the policy's MaxRetryAfter)
// before the next attempt. RetryAfter(nil, d) is nil and a d <= 0 returns err
// unchanged, so the result of parsing a missing header can be passed as is.
func RetryAfter(err error, d time.Duration) error {
	if err == nil {
		return nil
	}
	if d <= 0 {
		return err
	}
	return &RetryAfterError{Err: err, After: d}
}

// RetryAfterOf returns the pushback carried by err's tree. When several
// [RetryAfterError] marks are present (errors.Join of several answers, nested
// marks) the largest wins, since each one is a lower bound on the wait.
// Marks with After <= 0 are ignored.
func RetryAfterOf(err error) (time.Duration, bool) {
	if err == nil {
		return 0, false
	}
	var m marks
	m.scan(err, false)
	return m.after, m.after > 0
}

// maxScanNodes bounds the walk over an error tree. Real trees have a handful
// of nodes; the bound keeps a pathological Unwrap (one that returns its own
// receiver, or an enormous join) from hanging or exhausting the stack of the
// attempt loop. errors.Is itself has no such bound.
const maxScanNodes = 1024

// marks is what one walk over an error tree found. It lives on the caller's
// stack: the walk is hand-written instead of using errors.As because
// errors.As needs a pointer target that escapes to the heap, and the default
// classifier runs on every attempt.
type marks struct {
	permanent bool
	after     time.Duration // largest RetryAfterError.After > 0
	deadline  bool          // errors.Is(err, context.DeadlineExceeded)
	canceled  bool          // errors.Is(err, context.Canceled)
	visited   int
}

// scan walks err's tree in the order errors.Is uses (pre-order, depth
// first, following Unwrap() error and Unwrap() []error). With stopOnPermanent
// it returns as soon as a permanent mark is seen.
func (m *marks) scan(err error, stopOnPermanent bool) (stop bool) {
	for err != nil {
		if m.visited >= maxScanNodes {
			return true
		}
		m.visited++
		switch e := err.(type) {
		case *PermanentError:
			m.permanent = true
			if stopOnPermanent {
				return true
			}
		case *RetryAfterError:
			if a := e.after(); a > m.after {
				m.after = a
			}
		}
		// The context sentinels have comparable dynamic types, so these
		// comparisons cannot panic whatever err's dynamic type is.
		if err == context.DeadlineExceeded {
			m.deadline = true
		} else if err == context.Canceled {
			m.canceled = true
		}
		if x, ok := err.(interface{ Is(error) bool }); ok {
			if !m.deadline && x.Is(context.DeadlineExceeded) {
				m.deadline = true
			}
			if !m.canceled && x.Is(context.Canceled) {
				m.canceled = true
			}
		}
		if x, ok := err.(interface{ As(any) bool }); ok {
			if m.scanAs(x) && stopOnPermanent {
				return true
			}
		}
		switch u := err.(type) {
		case interface{ Unwrap() error }:
			err = u.Unwrap()
		case interface{ Unwrap() []error }:
			for _, e := range u.Unwrap() {
				if m.scan(e, stopOnPermanent) {
					return true
				}
			}
			return false
		default:
			return false
		}
	}
	return false
}

// scanAs honours custom As methods the way errors.As does. It is the slow
// path (its targets escape), taken only for errors that define As; it
// reports whether a permanent mark was found.
func (m *marks) scanAs(x interface{ As(any) bool }) bool {
	var pe *PermanentError
	if x.As(&pe) {
		m.permanent = true
	}
	var ra *RetryAfterError
	if x.As(&ra) {
		if a := ra.after(); a > m.after {
			m.after = a
		}
	}
	return m.permanent
}
