package classify_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/regoresilience/rego/classify"
)

var sinkVerdict classify.Verdict

func benchErrors() []struct {
	name string
	err  error
} {
	boom := errors.New("boom")
	return []struct {
		name string
		err  error
	}{
		{"nil", nil},
		{"plain", boom},
		{"wrapped2", fmt.Errorf("a: %w", fmt.Errorf("b: %w", boom))},
		{"joined3", errors.Join(io.EOF, io.ErrUnexpectedEOF, boom)},
		{"permanent", fmt.Errorf("a: %w", classify.Permanent(boom))},
		{"retry_after", fmt.Errorf("a: %w", classify.RetryAfter(boom, time.Second))},
		{"attempt_timeout", fmt.Errorf("a: %w", context.DeadlineExceeded)},
	}
}

// BenchmarkDefault measures the classifier that runs on every attempt.
// Compare with BenchmarkBaselineErrorsAs (the obvious errors.Is/As version)
// and BenchmarkBaselineNilCheck (the floor: a function call and a nil test).
func BenchmarkDefault(b *testing.B) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for _, bc := range benchErrors() {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				sinkVerdict = classify.Default.Classify(ctx, bc.err)
			}
		})
	}
}

func BenchmarkBaselineErrorsAs(b *testing.B) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for _, bc := range benchErrors() {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				sinkVerdict = referenceWithAs(ctx, bc.err)
			}
		})
	}
}

// referenceWithAs reads the pushback with errors.As (first mark only) and
// classifies with the errors.Is/As reference.
func referenceWithAs(ctx context.Context, err error) classify.Verdict {
	if err == nil {
		return reference(ctx, nil, 0)
	}
	var ra *classify.RetryAfterError
	after := time.Duration(0)
	if errors.As(err, &ra) {
		after = ra.After
	}
	return reference(ctx, err, after)
}

//go:noinline
func nilCheck(_ context.Context, err error) classify.Verdict {
	if err == nil {
		return classify.Verdict{Outcome: classify.Success, Reason: classify.ReasonSuccess}
	}
	return classify.Verdict{Outcome: classify.Retryable, Reason: classify.ReasonError}
}

func BenchmarkBaselineNilCheck(b *testing.B) {
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		sinkVerdict = nilCheck(ctx, nil)
	}
}
