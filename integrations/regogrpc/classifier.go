package regogrpc

import (
	"context"
	"errors"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/regoresilience/rego/classify"
	"github.com/regoresilience/rego/engine"
)

// ClassifierName is the name WithGRPCClassifier registers Classifier under:
// policies select it with "classifier": "grpc".
const ClassifierName = "grpc"

// Reasons reported by Classifier besides "grpc_<code>" (for example
// "grpc_unavailable", "grpc_not_found": the code's canonical name in lower
// case) and the reasons of classify.Default ("attempt_timeout", ...). They are
// stable: dashboards and alerts may match on them.
const (
	// ReasonPushbackStop: the server's grpc-retry-pushback-ms trailer was
	// negative or unparseable, which asks the client not to retry.
	ReasonPushbackStop = "grpc_pushback_stop"
	// ReasonHedgeSkipped: the policy fired a hedge that the interceptor did
	// not send (ErrHedgeSkipped).
	ReasonHedgeSkipped = "grpc_hedge_skipped"
	// ReasonStreamCommitted: the stream was committed (ErrStreamCommitted).
	ReasonStreamCommitted = "grpc_stream_committed"
)

// WithGRPCClassifier registers Classifier{} (the default rules) under
// ClassifierName on an engine:
//
//	exec, err := rego.NewExecutor(regogrpc.WithGRPCClassifier(), engine.WithProvider(p))
//
// To retry more codes for some methods, register a NewClassifier under a name
// of your own and select it in those methods' policies.
func WithGRPCClassifier() engine.Option {
	return engine.WithClassifier(ClassifierName, Classifier{})
}

// Classifier classifies the attempts of gRPC calls made through the
// interceptors (or by code that returns gRPC status errors). Rules, first
// match wins:
//
//	nil error                                        -> Success   "success"
//	the caller's context is done                     -> Abort     "canceled" / "deadline" (classify.Default)
//	DEADLINE_EXCEEDED at the caller's deadline       -> Abort     "deadline"
//	negative or unparseable pushback trailer         -> Abort     "grpc_pushback_stop"
//	a committed stream (ErrStreamCommitted)          -> Abort     "grpc_stream_committed"
//	a skipped hedge (ErrHedgeSkipped)                -> Retryable "grpc_hedge_skipped"
//	DEADLINE_EXCEEDED of the attempt's own deadline  -> Retryable "attempt_timeout"
//	CANCELLED by rego (a lost hedge race)            -> Retryable "attempt_canceled"
//	UNAVAILABLE, or a code given to NewClassifier    -> Retryable "grpc_<code>", RetryAfter = the pushback
//	RESOURCE_EXHAUSTED with a pushback trailer       -> Retryable "grpc_resource_exhausted", RetryAfter = the pushback
//	any other status                                 -> Abort     "grpc_<code>"
//	an error with no gRPC status                     -> classify.Default
//
// The pushback (gRFC A6's grpc-retry-pushback-ms trailer) is the minimum wait
// before the next attempt; the engine caps it by the policy's
// Retry.MaxRetryAfter. "The attempt's own deadline" is rego's
// Retry.AttemptTimeout: a DEADLINE_EXCEEDED that the server sent, or that
// came with the caller's own deadline, is not retried. Deadlines are also
// checked on the clock, because the server's copy of the deadline
// (grpc-timeout) may end the call before the client's timers fire. For errors that did not
// come through the interceptors (code that calls grpc itself under rego.Do),
// a DEADLINE_EXCEEDED while the caller still waits counts as the attempt's own
// timeout, and classify.Permanent and classify.RetryAfter marks are honoured.
//
// The zero value applies these rules; NewClassifier adds retryable codes, as
// the retryableStatusCodes of a gRPC service config do. A Classifier is a
// small value, safe for concurrent use, and does not allocate for the errors
// the interceptors return.
type Classifier struct {
	extra uint32 // bit c set: code c is retryable
}

var _ classify.Classifier = Classifier{}

// NewClassifier returns a Classifier that also retries the given codes (for
// example codes.Internal or codes.Aborted for idempotent methods), like the
// retryableStatusCodes of a gRPC service config. codes.OK and codes outside
// grpc's 17 are ignored. Register it under a name of your own and select it
// in the policies of the methods that may be retried that way:
//
//	engine.WithClassifier("grpc-idempotent", regogrpc.NewClassifier(codes.Internal, codes.Aborted))
func NewClassifier(retryable ...codes.Code) Classifier {
	var c Classifier
	for _, code := range retryable {
		if code != codes.OK && code < numCodes {
			c.extra |= 1 << code
		}
	}
	return c
}

// defaultRules is the zero Classifier, which the interceptors also use to mark
// their errors for classify.Default.
var defaultRules Classifier

const numCodes = 17

// Classify returns the verdict for an attempt that returned err.
func (c Classifier) Classify(ctx context.Context, err error) classify.Verdict {
	if err == nil {
		return classify.Verdict{Outcome: classify.Success, Reason: classify.ReasonSuccess}
	}
	if ctx != nil && ctx.Err() != nil {
		return classify.Default.Classify(ctx, err)
	}
	if ae, ok := asAttemptError(err); ok {
		return c.classifyAttempt(ae)
	}
	switch {
	case errors.Is(err, ErrHedgeSkipped):
		return classify.Verdict{Outcome: classify.Retryable, Reason: ReasonHedgeSkipped}
	case errors.Is(err, ErrStreamCommitted):
		return classify.Verdict{Outcome: classify.Abort, Reason: ReasonStreamCommitted}
	case classify.IsPermanent(err):
		return classify.Verdict{Outcome: classify.Abort, Reason: classify.ReasonPermanent}
	}
	st, ok := status.FromError(err)
	if !ok {
		return classify.Default.Classify(ctx, err)
	}
	wait, _ := classify.RetryAfterOf(err)
	ae := attemptError{code: st.Code(), wait: wait, timedOut: st.Code() == codes.DeadlineExceeded}
	if wait > 0 {
		ae.push = pushbackRetry
	}
	return c.classifyAttempt(&ae)
}

func (c Classifier) classifyAttempt(ae *attemptError) classify.Verdict {
	switch {
	case ae.late:
		return classify.Verdict{Outcome: classify.Abort, Reason: classify.ReasonDeadline}
	case ae.push == pushbackStop:
		return classify.Verdict{Outcome: classify.Abort, Reason: ReasonPushbackStop}
	case ae.timedOut:
		return classify.Verdict{Outcome: classify.Retryable, Reason: classify.ReasonAttemptTimeout}
	case ae.canceled:
		return classify.Verdict{Outcome: classify.Retryable, Reason: classify.ReasonAttemptCanceled}
	}
	retry := ae.code == codes.Unavailable ||
		ae.code == codes.ResourceExhausted && ae.push == pushbackRetry ||
		ae.code < numCodes && c.extra&(1<<ae.code) != 0
	if !retry {
		return classify.Verdict{Outcome: classify.Abort, Reason: codeReason(ae.code)}
	}
	v := classify.Verdict{Outcome: classify.Retryable, Reason: codeReason(ae.code)}
	if ae.push == pushbackRetry {
		v.RetryAfter = ae.wait
	}
	return v
}

// codeReasons holds "grpc_<code>" for grpc's codes so that classifying does
// not allocate.
var codeReasons = func() (r [numCodes]string) {
	names := [numCodes]string{"OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED",
		"NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
		"ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED"}
	for i, n := range names {
		r[i] = "grpc_" + strings.ToLower(n)
	}
	return r
}()

func codeReason(c codes.Code) string {
	if c < numCodes {
		return codeReasons[c]
	}
	return "grpc_code"
}
