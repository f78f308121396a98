package classify_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/regoresilience/rego/classify"
)

// timeoutErr reports itself as context.DeadlineExceeded through an Is method,
// like some client libraries' timeout errors.
type timeoutErr struct{}

func (timeoutErr) Error() string        { return "i/o timeout" }
func (timeoutErr) Is(target error) bool { return target == context.DeadlineExceeded }

func contexts(t *testing.T) (alive, canceled, expired context.Context) {
	t.Helper()
	alive = context.Background()
	c, cancel := context.WithCancel(alive)
	cancel()
	e, cancel2 := context.WithDeadline(alive, time.Unix(0, 0))
	t.Cleanup(cancel2)
	return alive, c, e
}

func TestDefaultTable(t *testing.T) {
	alive, canceled, expired := contexts(t)
	boom := errors.New("boom")
	perm := classify.Permanent(boom)
	ra := classify.RetryAfter(boom, 3*time.Second)
	ok := classify.Verdict{Outcome: classify.Success, Reason: classify.ReasonSuccess}
	retry := func(reason string) classify.Verdict {
		return classify.Verdict{Outcome: classify.Retryable, Reason: reason}
	}
	abort := func(reason string) classify.Verdict {
		return classify.Verdict{Outcome: classify.Abort, Reason: reason}
	}
	for _, tc := range []struct {
		name string
		ctx  context.Context
		err  error
		want classify.Verdict
	}{
		{"nil", alive, nil, ok},
		{"nil_even_if_caller_gone", canceled, nil, ok},
		{"nil_ctx", nil, boom, retry(classify.ReasonError)},
		{"plain", alive, boom, retry(classify.ReasonError)},
		{"permanent", alive, perm, abort(classify.ReasonPermanent)},
		{"permanent_wrapped", alive, fmt.Errorf("op: %w", perm), abort(classify.ReasonPermanent)},
		{"permanent_joined", alive, errors.Join(io.EOF, perm), abort(classify.ReasonPermanent)},
		{"permanent_beats_retry_after", alive, classify.RetryAfter(perm, time.Second), abort(classify.ReasonPermanent)},
		{"permanent_beats_retry_after_join", alive, errors.Join(ra, perm), abort(classify.ReasonPermanent)},
		{"permanent_beats_caller_cancel", canceled, perm, abort(classify.ReasonPermanent)},
		{"caller_canceled", canceled, context.Canceled, abort(classify.ReasonCanceled)},
		{"caller_canceled_other_err", canceled, boom, abort(classify.ReasonCanceled)},
		{"caller_deadline", expired, context.DeadlineExceeded, abort(classify.ReasonDeadline)},
		{"caller_deadline_beats_retry_after", expired, ra, abort(classify.ReasonDeadline)},
		{"attempt_timeout", alive, context.DeadlineExceeded, retry(classify.ReasonAttemptTimeout)},
		{"attempt_timeout_wrapped", alive, fmt.Errorf("dial: %w", context.DeadlineExceeded), retry(classify.ReasonAttemptTimeout)},
		{"attempt_timeout_is_method", alive, timeoutErr{}, retry(classify.ReasonAttemptTimeout)},
		{"attempt_canceled", alive, fmt.Errorf("rpc: %w", context.Canceled), retry(classify.ReasonAttemptCanceled)},
		{"retry_after", alive, ra, classify.Verdict{Outcome: classify.Retryable, Reason: classify.ReasonRetryAfter, RetryAfter: 3 * time.Second}},
		{"retry_after_beats_attempt_timeout", alive, errors.Join(context.DeadlineExceeded, ra),
			classify.Verdict{Outcome: classify.Retryable, Reason: classify.ReasonRetryAfter, RetryAfter: 3 * time.Second}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := classify.Default.Classify(tc.ctx, tc.err); got != tc.want {
				t.Errorf("Classify = %v, want %v", got, tc.want)
			}
		})
	}
}

// genTree builds a random error tree and returns what a reference reading of
// it must find: whether a permanent mark is present and the largest
// retry-after.
func genTree(r *rand.Rand, depth int) (err error, perm bool, after time.Duration) {
	if depth <= 0 || r.IntN(4) == 0 {
		switch r.IntN(5) {
		case 0:
			return context.DeadlineExceeded, false, 0
		case 1:
			return context.Canceled, false, 0
		case 2:
			return timeoutErr{}, false, 0
		default:
			return fmt.Errorf("leaf %d", r.IntN(100)), false, 0
		}
	}
	switch r.IntN(5) {
	case 0:
		e, p, a := genTree(r, depth-1)
		return fmt.Errorf("wrap: %w", e), p, a
	case 1:
		e, _, a := genTree(r, depth-1)
		return classify.Permanent(e), true, a
	case 2:
		e, p, a := genTree(r, depth-1)
		d := time.Duration(1+r.IntN(10)) * time.Second
		return classify.RetryAfter(e, d), p, max(a, d)
	default:
		n := 1 + r.IntN(3)
		errs := make([]error, n)
		for i := range errs {
			e, p, a := genTree(r, depth-1)
			errs[i] = e
			perm = perm || p
			after = max(after, a)
		}
		return errors.Join(errs...), perm, after
	}
}

// reference is the default classifier written the obvious, allocating way,
// with errors.Is/As; the real one walks the tree by hand to avoid
// allocations and must agree with it.
func reference(ctx context.Context, err error, after time.Duration) classify.Verdict {
	if err == nil {
		return classify.Verdict{Outcome: classify.Success, Reason: classify.ReasonSuccess}
	}
	var pe *classify.PermanentError
	if errors.As(err, &pe) {
		return classify.Verdict{Outcome: classify.Abort, Reason: classify.ReasonPermanent}
	}
	if ctx.Err() != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return classify.Verdict{Outcome: classify.Abort, Reason: classify.ReasonDeadline}
		}
		return classify.Verdict{Outcome: classify.Abort, Reason: classify.ReasonCanceled}
	}
	if after > 0 {
		return classify.Verdict{Outcome: classify.Retryable, Reason: classify.ReasonRetryAfter, RetryAfter: after}
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return classify.Verdict{Outcome: classify.Retryable, Reason: classify.ReasonAttemptTimeout}
	}
	if errors.Is(err, context.Canceled) {
		return classify.Verdict{Outcome: classify.Retryable, Reason: classify.ReasonAttemptCanceled}
	}
	return classify.Verdict{Outcome: classify.Retryable, Reason: classify.ReasonError}
}

// TestDefaultAgainstReference verifies Default, IsPermanent and RetryAfterOf
// against errors.Is/As and the generator's own bookkeeping on random trees.
func TestDefaultAgainstReference(t *testing.T) {
	alive, canceled, expired := contexts(t)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 5000 {
		err, perm, after := genTree(r, 5)
		var pe *classify.PermanentError
		if got := classify.IsPermanent(err); got != perm || got != errors.As(err, &pe) {
			t.Fatalf("#%d IsPermanent = %v, generator %v, errors.As %v: %v", i, got, perm, !got, err)
		}
		var ra *classify.RetryAfterError
		if d, ok := classify.RetryAfterOf(err); d != after || ok != (after > 0) || ok != errors.As(err, &ra) {
			t.Fatalf("#%d RetryAfterOf = %v, %v; want %v: %v", i, d, ok, after, err)
		}
		for _, ctx := range []context.Context{alive, canceled, expired} {
			if got, want := classify.Default.Classify(ctx, err), reference(ctx, err, after); got != want {
				t.Fatalf("#%d Classify = %v, reference %v: %q", i, got, want, err)
			}
		}
	}
}

// TestDefaultDoesNotAllocate verifies the hot-path promise: Default runs on
// every attempt and must not allocate, whatever the error looks like.
func TestDefaultDoesNotAllocate(t *testing.T) {
	alive, canceled, _ := contexts(t)
	boom := errors.New("boom")
	cases := map[string]error{
		"nil":         nil,
		"plain":       boom,
		"wrapped":     fmt.Errorf("a: %w", fmt.Errorf("b: %w", boom)),
		"joined":      errors.Join(io.EOF, context.DeadlineExceeded, boom),
		"permanent":   fmt.Errorf("a: %w", classify.Permanent(boom)),
		"retry_after": fmt.Errorf("a: %w", classify.RetryAfter(boom, time.Second)),
		"is_method":   timeoutErr{},
	}
	for name, err := range cases {
		for _, ctx := range []context.Context{alive, canceled} {
			if n := testing.AllocsPerRun(100, func() { _ = classify.Default.Classify(ctx, err) }); n != 0 {
				t.Errorf("%s: %v allocs per Classify, want 0", name, n)
			}
		}
		if n := testing.AllocsPerRun(100, func() { _, _ = classify.RetryAfterOf(err); _ = classify.IsPermanent(err) }); n != 0 {
			t.Errorf("%s: %v allocs per RetryAfterOf+IsPermanent, want 0", name, n)
		}
	}
}
