package classify

import (
	"context"
)

// Reasons reported by [Default]. They are stable: dashboards and alerts may
// match on them. Domain classifiers should reuse them where they fit and
// otherwise pick equally short, low-cardinality strings.
const (
	// ReasonSuccess: the attempt returned nil.
	ReasonSuccess = "success"
	// ReasonPermanent: the error carries a Permanent mark.
	ReasonPermanent = "permanent"
	// ReasonCanceled: the caller's context was canceled.
	ReasonCanceled = "canceled"
	// ReasonDeadline: the caller's context passed its deadline.
	ReasonDeadline = "deadline"
	// ReasonAttemptTimeout: the attempt hit its own deadline (policy
	// AttemptTimeout) while the caller still waits.
	ReasonAttemptTimeout = "attempt_timeout"
	// ReasonAttemptCanceled: the attempt saw context.Canceled while the
	// caller still waits (for example a server-side cancellation).
	ReasonAttemptCanceled = "attempt_canceled"
	// ReasonRetryAfter: the error carries server pushback (RetryAfter mark).
	ReasonRetryAfter = "retry_after"
	// ReasonError: any other error; retried.
	ReasonError = "error"
)

// Default is the classifier used when a policy names none. Its rules, first
// match wins:
//
//	nil error                                  -> Success   "success"
//	a Permanent mark anywhere in the tree      -> Abort     "permanent"
//	caller's ctx done, deadline exceeded       -> Abort     "deadline"
//	caller's ctx done, canceled (or any other) -> Abort     "canceled"
//	a RetryAfter mark (largest wins)           -> Retryable "retry_after", RetryAfter = d
//	errors.Is(err, context.DeadlineExceeded)   -> Retryable "attempt_timeout"
//	errors.Is(err, context.Canceled)           -> Retryable "attempt_canceled"
//	anything else                              -> Retryable "error"
//
// Permanent beats RetryAfter (the server's "try later" does not make a
// malformed request valid), and the caller giving up beats everything but
// success. RetryAfter beats an attempt timeout so that pushback found next to
// a timeout in a joined error is not lost.
//
// Default is stateless, safe for concurrent use and does not allocate.
var Default Classifier = defaultClassifier{}

type defaultClassifier struct{}

// Classify implements [Classifier].
func (defaultClassifier) Classify(ctx context.Context, err error) Verdict {
	if err == nil {
		return Verdict{Outcome: Success, Reason: ReasonSuccess}
	}
	var m marks
	m.scan(err, true)
	if m.permanent {
		return Verdict{Outcome: Abort, Reason: ReasonPermanent}
	}
	if ctx != nil {
		if cerr := ctx.Err(); cerr != nil {
			if cerr == context.DeadlineExceeded {
				return Verdict{Outcome: Abort, Reason: ReasonDeadline}
			}
			return Verdict{Outcome: Abort, Reason: ReasonCanceled}
		}
	}
	switch {
	case m.after > 0:
		return Verdict{Outcome: Retryable, Reason: ReasonRetryAfter, RetryAfter: m.after}
	case m.deadline:
		return Verdict{Outcome: Retryable, Reason: ReasonAttemptTimeout}
	case m.canceled:
		return Verdict{Outcome: Retryable, Reason: ReasonAttemptCanceled}
	}
	return Verdict{Outcome: Retryable, Reason: ReasonError}
}
