package classify_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/regoresilience/rego/classify"
)

// StatusError is a domain error: an HTTP response status.
type StatusError struct{ Code int }

func (e *StatusError) Error() string { return fmt.Sprintf("http status %d", e.Code) }

// This example writes a domain classifier for HTTP status codes, registers
// it by name (a policy selects it with "classifier": "http") and lets the
// default classifier handle everything it does not know.
func Example() {
	httpClassifier := classify.Func(func(ctx context.Context, err error) classify.Verdict {
		var se *StatusError
		if errors.As(err, &se) && !classify.IsPermanent(err) {
			switch {
			case se.Code == 429 || se.Code == 502 || se.Code == 503 || se.Code == 504:
				v := classify.Verdict{Outcome: classify.Retryable, Reason: "http_unavailable"}
				v.RetryAfter, _ = classify.RetryAfterOf(err) // keep server pushback
				return v
			case se.Code >= 400:
				return classify.Verdict{Outcome: classify.Abort, Reason: "http_client_error"}
			}
		}
		return classify.Default.Classify(ctx, err) // nil, timeouts, cancellation, marks
	})

	// An executor selects it for the policies that name it:
	// engine.WithClassifier("http", httpClassifier).
	c := httpClassifier
	ctx := context.Background()
	for _, err := range []error{
		nil,
		&StatusError{Code: 404},
		fmt.Errorf("get user: %w", &StatusError{Code: 503}),
		classify.RetryAfter(&StatusError{Code: 429}, 2*time.Second),
		context.DeadlineExceeded,
	} {
		fmt.Println(c.Classify(ctx, err))
	}
	// Output:
	// success
	// abort http_client_error
	// retryable http_unavailable
	// retryable http_unavailable 2s
	// retryable attempt_timeout
}

// Permanent marks an error that retrying cannot fix; the mark survives
// wrapping and joins, and does not change the error's text or identity.
func ExamplePermanent() {
	errNotFound := errors.New("user not found")
	err := fmt.Errorf("GetUser(42): %w", classify.Permanent(errNotFound))

	fmt.Println(err)
	fmt.Println(errors.Is(err, errNotFound), classify.IsPermanent(err))
	fmt.Println(classify.Default.Classify(context.Background(), err))
	// Output:
	// GetUser(42): user not found
	// true true
	// abort permanent
}

// RetryAfter carries server pushback; the engine waits at least that long
// (capped by the policy's max_retry_after) before the next attempt.
func ExampleRetryAfter() {
	err := classify.RetryAfter(errors.New("503 Service Unavailable"), 1500*time.Millisecond)

	d, ok := classify.RetryAfterOf(fmt.Errorf("call: %w", err))
	fmt.Println(d, ok)
	fmt.Println(classify.Default.Classify(context.Background(), err))
	// Output:
	// 1.5s true
	// retryable retry_after 1.5s
}

// The caller's context, not the attempt's, tells a deadline of the whole call
// (abort) from an attempt's own timeout (retry).
func ExampleDefault() {
	caller, cancel := context.WithCancel(context.Background())
	fmt.Println(classify.Default.Classify(caller, context.DeadlineExceeded))
	cancel()
	fmt.Println(classify.Default.Classify(caller, context.Canceled))
	// Output:
	// retryable attempt_timeout
	// abort canceled
}
