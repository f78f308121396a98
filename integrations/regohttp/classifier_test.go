package regohttp_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/regoresilience/rego/classify"
	"github.com/regoresilience/rego/integrations/regohttp"
)

// TestClassifier verifies the classifier's table, including how it reads the
// marks the transport puts on errors.
func TestClassifier(t *testing.T) {
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	st := func(code int) *regohttp.StatusError { return &regohttp.StatusError{StatusCode: code, Method: "GET"} }
	dial := &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	for _, tc := range []struct {
		name string
		ctx  context.Context
		err  error
		want classify.Verdict
	}{
		{"nil", nil, nil, classify.Verdict{Outcome: classify.Success, Reason: "success"}},
		{"408", nil, st(408), classify.Verdict{Outcome: classify.Retryable, Reason: "http_408"}},
		{"429 pushback", nil, &regohttp.StatusError{StatusCode: 429, RetryAfter: 2 * time.Second},
			classify.Verdict{Outcome: classify.Retryable, Reason: "http_429", RetryAfter: 2 * time.Second}},
		{"500", nil, st(500), classify.Verdict{Outcome: classify.Retryable, Reason: "http_500"}},
		{"502 wrapped", nil, fmt.Errorf("calling: %w", st(502)), classify.Verdict{Outcome: classify.Retryable, Reason: "http_502"}},
		{"503 marked", nil, classify.RetryAfter(&regohttp.StatusError{StatusCode: 503, RetryAfter: time.Second}, time.Second),
			classify.Verdict{Outcome: classify.Retryable, Reason: "http_503", RetryAfter: time.Second}},
		{"504", nil, st(504), classify.Verdict{Outcome: classify.Retryable, Reason: "http_504"}},
		{"503 permanent", nil, classify.Permanent(st(503)), classify.Verdict{Outcome: classify.Abort, Reason: "permanent"}},
		{"400", nil, st(400), classify.Verdict{Outcome: classify.Abort, Reason: "http_400"}},
		{"404 permanent", nil, classify.Permanent(st(404)), classify.Verdict{Outcome: classify.Abort, Reason: "http_404"}},
		{"501", nil, st(501), classify.Verdict{Outcome: classify.Abort, Reason: "http_501"}},
		{"999", nil, st(999), classify.Verdict{Outcome: classify.Abort, Reason: "http_999"}},
		{"304", nil, st(304), classify.Verdict{Outcome: classify.Success, Reason: "success"}},
		{"not idempotent", nil, classify.Permanent(&regohttp.NotRetriedError{Reason: regohttp.ReasonNotIdempotent, Err: st(503)}),
			classify.Verdict{Outcome: classify.Abort, Reason: "http_not_idempotent"}},
		{"hedge skipped", nil, regohttp.ErrHedgeSkipped, classify.Verdict{Outcome: classify.Retryable, Reason: "http_hedge_skipped"}},
		{"dial", nil, dial, classify.Verdict{Outcome: classify.Retryable, Reason: "error"}},
		{"attempt timeout", context.Background(), fmt.Errorf("%w: x", context.DeadlineExceeded),
			classify.Verdict{Outcome: classify.Retryable, Reason: "attempt_timeout"}},
		{"caller gone", canceled, st(503), classify.Verdict{Outcome: classify.Abort, Reason: "canceled"}},
		{"caller gone, not idempotent", canceled, &regohttp.NotRetriedError{Reason: regohttp.ReasonNotIdempotent, Err: dial},
			classify.Verdict{Outcome: classify.Abort, Reason: "canceled"}},
	} {
		if got := (regohttp.Classifier{}).Classify(tc.ctx, tc.err); got != tc.want {
			t.Errorf("%s: Classify(%v) = %v; want %v", tc.name, tc.err, got, tc.want)
		}
	}
}

// TestClassifierAllocs verifies that classifying a status error does not allocate.
func TestClassifierAllocs(t *testing.T) {
	err := error(classify.RetryAfter(&regohttp.StatusError{StatusCode: 503, RetryAfter: time.Second}, time.Second))
	ctx := context.Background()
	if n := testing.AllocsPerRun(100, func() { regohttp.Classifier{}.Classify(ctx, err) }); n != 0 {
		t.Errorf("Classify allocates %v times per call; want 0", n)
	}
}

// TestStatusErrorText verifies the error texts users see in logs.
func TestStatusErrorText(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{&regohttp.StatusError{StatusCode: 503, Status: "503 Service Unavailable", Method: "POST"}, "regohttp: POST: 503 Service Unavailable"},
		{&regohttp.StatusError{StatusCode: 404}, "regohttp: GET: 404 Not Found"},
		{&regohttp.StatusError{StatusCode: 799}, "regohttp: GET: 799"},
		{&regohttp.NotRetriedError{Reason: "http_not_idempotent", Err: errors.New("boom")}, "boom (not retried: http_not_idempotent)"},
	} {
		if got := tc.err.Error(); got != tc.want {
			t.Errorf("Error() = %q; want %q", got, tc.want)
		}
	}
}

// TestRetryableStatus verifies exactly the six retryable statuses.
func TestRetryableStatus(t *testing.T) {
	var got []int
	for c := 100; c < 1000; c++ {
		if regohttp.RetryableStatus(c) {
			got = append(got, c)
		}
	}
	if fmt.Sprint(got) != "[408 429 500 502 503 504]" {
		t.Errorf("retryable statuses = %v", got)
	}
}
