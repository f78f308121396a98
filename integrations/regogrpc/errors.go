package regogrpc

import (
	"context"
	"errors"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/regoresilience/rego/classify"
	"github.com/regoresilience/rego/engine"
)

var (
	// ErrHedgeSkipped is the error of a hedge attempt that the interceptor
	// did not send: streams are never hedged, and neither are unary calls
	// whose reply is not a proto.Message (attempts could not get replies of
	// their own). It shows on timelines (reason "grpc_hedge_skipped"); the
	// call's result is the other attempts'.
	ErrHedgeSkipped = errors.New("regogrpc: hedge not sent: only unary calls with proto replies are hedged")
	// ErrStreamCommitted is the error of an attempt that found its stream
	// already committed (its replay buffer overflowed while rego was waiting
	// between attempts): the call is not retried any more.
	ErrStreamCommitted = errors.New("regogrpc: stream committed")
)

// attemptError is what one attempt returns to the engine when it failed: the
// gRPC error as grpc returned it plus what only the interceptor knows (the
// pushback trailer, whether the attempt's own context ended it, whether the
// stream was committed). Classifier reads it; the marks around it
// (classify.Permanent, classify.RetryAfter, see mark) give classify.Default
// the same answers.
//
// Written once by the attempt that makes it; read-only after.
type attemptError struct {
	err      error // a status error (or whatever the invoker returned)
	code     codes.Code
	wait     time.Duration // the pushback wait, if push == pushbackRetry
	push     pushback
	timedOut bool // the attempt's own deadline ended it while the caller waited
	canceled bool // rego cancelled the attempt (a lost hedge race) while the caller waited
	late     bool // DEADLINE_EXCEEDED at or past the caller's own deadline
	attempt  *unaryAttempt
}

func (e *attemptError) Error() string { return e.err.Error() }
func (e *attemptError) Unwrap() error { return e.err }

// GRPCStatus lets status.FromError and status.Code read the attempt's status.
func (e *attemptError) GRPCStatus() *status.Status { return status.Convert(e.err) }

// Is reports the attempt's own timeout as context.DeadlineExceeded and rego's
// cancellation as context.Canceled, so that classify.Default says
// "attempt_timeout" and "attempt_canceled" for them.
func (e *attemptError) Is(target error) bool {
	switch target {
	case context.DeadlineExceeded:
		return e.timedOut
	case context.Canceled:
		return e.canceled
	}
	return false
}

// newAttemptError describes err, an attempt's failure. actx is the attempt's
// context, caller the caller's.
func newAttemptError(err error, actx, caller context.Context, trailer []string) *attemptError {
	ae := &attemptError{err: err, code: status.Code(err)}
	ae.wait, ae.push = parsePushback(trailer)
	if caller.Err() != nil || (ae.code != codes.DeadlineExceeded && ae.code != codes.Canceled) {
		return ae
	}
	// The deadlines are read on the clock too: the server's copy of the
	// deadline (grpc-timeout) may end the call before the client's timers
	// fire.
	now := time.Now()
	if ae.code == codes.DeadlineExceeded && pastDeadline(caller, now) {
		ae.late = true
		return ae
	}
	// A stream's attempt ends by the cancel of a context linked to actx, so
	// an attempt timeout may come back as CANCELLED.
	switch err := actx.Err(); {
	case err == context.DeadlineExceeded || err == nil && pastDeadline(actx, now):
		ae.timedOut = true
	case err == context.Canceled:
		ae.canceled = ae.code == codes.Canceled
	}
	return ae
}

// pastDeadline reports whether ctx has a deadline that now has reached.
func pastDeadline(ctx context.Context, now time.Time) bool {
	d, ok := ctx.Deadline()
	return ok && !now.Before(d)
}

// mark wraps ae so that classify.Default decides as Classifier{} does:
// classify.Permanent when the default rules do not retry it, classify.RetryAfter
// for a pushback wait.
func (ae *attemptError) mark() error {
	v := defaultRules.classifyAttempt(ae)
	switch {
	case v.Outcome == classify.Abort:
		return classify.Permanent(ae)
	case v.RetryAfter > 0:
		return classify.RetryAfter(ae, v.RetryAfter)
	}
	return ae
}

// asAttemptError finds the attemptError the interceptor returned, bare or
// under one of its marks, without errors.As (which would allocate).
func asAttemptError(err error) (*attemptError, bool) {
	switch e := err.(type) {
	case *attemptError:
		return e, true
	case *classify.PermanentError:
		ae, ok := e.Err.(*attemptError)
		return ae, ok
	case *classify.RetryAfterError:
		ae, ok := e.Err.(*attemptError)
		return ae, ok
	}
	return nil, false
}

// callError is the error an interceptor returns for a failed call. Its
// GRPCStatus is what a gRPC caller expects (status.Code, status.FromError):
// the last attempt's status as the server sent it, or the status of the
// caller's context error when that ended the call. It unwraps to the engine's
// error, so errors.As(err, **engine.Error) reads the attempts and the stop
// reason, and errors.Is(err, context.Canceled) holds after a cancel.
type callError struct {
	st    *status.Status
	err   error // usually *engine.Error
	cause error // context.DeadlineExceeded when the caller's deadline ended the call unseen by the engine
}

func (e *callError) Error() string              { return e.err.Error() }
func (e *callError) GRPCStatus() *status.Status { return e.st }

// Unwrap returns the engine's error and the caller's deadline, if it ended
// the call.
func (e *callError) Unwrap() []error {
	if e.cause != nil {
		return []error{e.err, e.cause}
	}
	return []error{e.err}
}

// toCallError turns the engine's error into the interceptor's. ctx is the
// caller's.
func toCallError(ctx context.Context, err error) error {
	ce := &callError{err: err}
	ee, isEngine := errors.AsType[*engine.Error](err)
	switch {
	case isEngine && ee.Cause != nil && errors.Is(ee.Cause, engine.ErrClosed):
		ce.st = status.New(codes.Canceled, ee.Cause.Error())
	case isEngine && ee.Cause != nil:
		// As grpc-go: the caller's cancel or deadline, whatever the attempts said.
		ce.st = status.FromContextError(ee.Cause)
	case isEngine && ee.Err != nil:
		if ae, ok := asAttemptError(ee.Err); ok {
			ce.st = status.Convert(ae.err)
			if ae.late {
				// The caller's deadline ended the call before its timer fired.
				ce.st = status.FromContextError(context.DeadlineExceeded)
				ce.cause = context.DeadlineExceeded
			}
		} else {
			ce.st = status.Convert(ee.Err)
		}
	default:
		ce.st = status.New(codes.Unknown, err.Error())
	}
	return ce
}

// lastAttempt returns the attemptError of the engine error's last attempt.
func lastAttempt(err error) (*attemptError, bool) {
	if ee, ok := errors.AsType[*engine.Error](err); ok && ee.Err != nil {
		return asAttemptError(ee.Err)
	}
	return nil, false
}
