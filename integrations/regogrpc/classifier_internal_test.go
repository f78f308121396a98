package regogrpc

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/regoresilience/rego/classify"
)

// TestClassifierTable verifies Classifier's rules, and that the marks the
// interceptor puts on its errors make classify.Default agree on the outcome.
func TestClassifierTable(t *testing.T) {
	alive := context.Background()
	canceled, cancel := context.WithCancel(alive)
	cancel()
	unavailable := status.Error(codes.Unavailable, "down")
	ae := func(code codes.Code, mod func(*attemptError)) *attemptError {
		a := &attemptError{err: status.Error(code, "x"), code: code}
		if mod != nil {
			mod(a)
		}
		return a
	}
	retry := func(reason string, after time.Duration) classify.Verdict {
		return classify.Verdict{Outcome: classify.Retryable, Reason: reason, RetryAfter: after}
	}
	abort := func(reason string) classify.Verdict {
		return classify.Verdict{Outcome: classify.Abort, Reason: reason}
	}
	withPush := func(d time.Duration) func(*attemptError) {
		return func(a *attemptError) { a.wait, a.push = d, pushbackRetry }
	}
	for _, tt := range []struct {
		name string
		c    Classifier
		ctx  context.Context
		err  *attemptError
		want classify.Verdict
	}{
		{"unavailable", Classifier{}, alive, ae(codes.Unavailable, nil), retry("grpc_unavailable", 0)},
		{"unavailable_pushback", Classifier{}, alive, ae(codes.Unavailable, withPush(time.Second)), retry("grpc_unavailable", time.Second)},
		{"unavailable_stop", Classifier{}, alive, ae(codes.Unavailable, func(a *attemptError) { a.push = pushbackStop }), abort(ReasonPushbackStop)},
		{"exhausted_no_pushback", Classifier{}, alive, ae(codes.ResourceExhausted, nil), abort("grpc_resource_exhausted")},
		{"exhausted_pushback", Classifier{}, alive, ae(codes.ResourceExhausted, withPush(2*time.Second)), retry("grpc_resource_exhausted", 2*time.Second)},
		{"exhausted_pushback_zero", Classifier{}, alive, ae(codes.ResourceExhausted, withPush(0)), retry("grpc_resource_exhausted", 0)},
		{"attempt_timeout", Classifier{}, alive, ae(codes.DeadlineExceeded, func(a *attemptError) { a.timedOut = true }), retry(classify.ReasonAttemptTimeout, 0)},
		{"caller_deadline_unseen", Classifier{}, alive, ae(codes.DeadlineExceeded, func(a *attemptError) { a.late = true }), abort(classify.ReasonDeadline)},
		{"server_deadline", Classifier{}, alive, ae(codes.DeadlineExceeded, nil), abort("grpc_deadline_exceeded")},
		{"hedge_lost", Classifier{}, alive, ae(codes.Canceled, func(a *attemptError) { a.canceled = true }), retry(classify.ReasonAttemptCanceled, 0)},
		{"server_canceled", Classifier{}, alive, ae(codes.Canceled, nil), abort("grpc_cancelled")},
		{"caller_canceled", Classifier{}, canceled, ae(codes.Unavailable, nil), abort(classify.ReasonCanceled)},
		{"internal", Classifier{}, alive, ae(codes.Internal, nil), abort("grpc_internal")},
		{"internal_extra", NewClassifier(codes.Internal), alive, ae(codes.Internal, nil), retry("grpc_internal", 0)},
		{"extra_pushback_stop", NewClassifier(codes.Internal), alive, ae(codes.Internal, func(a *attemptError) { a.push = pushbackStop }), abort(ReasonPushbackStop)},
		{"exhausted_extra", NewClassifier(codes.ResourceExhausted), alive, ae(codes.ResourceExhausted, nil), retry("grpc_resource_exhausted", 0)},
		{"unknown_code", Classifier{}, alive, ae(codes.Code(99), nil), abort("grpc_code")},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.c.Classify(tt.ctx, tt.err.mark()); got != tt.want {
				t.Errorf("Classify(marked) = %v, want %v", got, tt.want)
			}
			if got := tt.c.Classify(tt.ctx, tt.err); got != tt.want {
				t.Errorf("Classify(bare) = %v, want %v", got, tt.want)
			}
			if tt.c == (Classifier{}) {
				if got := classify.Default.Classify(tt.ctx, tt.err.mark()); got.Outcome != tt.want.Outcome || got.RetryAfter != tt.want.RetryAfter {
					t.Errorf("classify.Default on the marked error = %v, want outcome %v", got, tt.want)
				}
			}
		})
	}
	// Errors that did not come through the interceptors.
	for _, tt := range []struct {
		name string
		err  error
		want classify.Verdict
	}{
		{"nil", nil, classify.Verdict{Outcome: classify.Success, Reason: classify.ReasonSuccess}},
		{"status", unavailable, retry("grpc_unavailable", 0)},
		{"wrapped_status", fmt.Errorf("get user: %w", unavailable), retry("grpc_unavailable", 0)},
		{"status_retry_after", classify.RetryAfter(status.Error(codes.ResourceExhausted, "slow down"), time.Second), retry("grpc_resource_exhausted", time.Second)},
		{"status_permanent", classify.Permanent(unavailable), abort(classify.ReasonPermanent)},
		{"status_deadline", status.Error(codes.DeadlineExceeded, "late"), retry(classify.ReasonAttemptTimeout, 0)},
		{"not_found", status.Error(codes.NotFound, "no"), abort("grpc_not_found")},
		{"plain", errors.New("boom"), retry(classify.ReasonError, 0)},
		{"hedge_skipped", ErrHedgeSkipped, retry(ReasonHedgeSkipped, 0)},
		{"committed", classify.Permanent(ErrStreamCommitted), abort(ReasonStreamCommitted)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := (Classifier{}).Classify(alive, tt.err); got != tt.want {
				t.Errorf("Classify = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestClassifierDoesNotAllocate verifies the promise for the interceptors'
// errors: classifying them costs no allocation.
func TestClassifierDoesNotAllocate(t *testing.T) {
	ctx := context.Background()
	errs := []error{
		(&attemptError{err: status.Error(codes.Unavailable, "x"), code: codes.Unavailable}).mark(),
		(&attemptError{err: status.Error(codes.NotFound, "x"), code: codes.NotFound}).mark(),
		(&attemptError{err: status.Error(codes.Unavailable, "x"), code: codes.Unavailable, wait: time.Second, push: pushbackRetry}).mark(),
	}
	c := NewClassifier(codes.Internal)
	for _, err := range errs {
		if n := testing.AllocsPerRun(100, func() { _ = c.Classify(ctx, err) }); n != 0 {
			t.Errorf("%v: %v allocs, want 0", err, n)
		}
	}
}
