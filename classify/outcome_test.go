package classify_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/regoresilience/rego/classify"
)

func TestOutcomeString(t *testing.T) {
	for o, want := range map[classify.Outcome]string{
		classify.Success:   "success",
		classify.Retryable: "retryable",
		classify.Abort:     "abort",
		9:                  "outcome(9)",
	} {
		if got := o.String(); got != want {
			t.Errorf("Outcome(%d).String() = %q, want %q", uint8(o), got, want)
		}
	}
}

func TestOutcomeText(t *testing.T) {
	for _, o := range []classify.Outcome{classify.Success, classify.Retryable, classify.Abort} {
		b, err := o.MarshalText()
		if err != nil {
			t.Fatalf("MarshalText(%v): %v", o, err)
		}
		var back classify.Outcome
		if err := back.UnmarshalText(b); err != nil || back != o {
			t.Errorf("round trip %v: got %v, %v", o, back, err)
		}
	}
	if _, err := classify.Outcome(7).MarshalText(); !errors.Is(err, classify.ErrInvalidOutcome) {
		t.Errorf("MarshalText(7) error = %v, want ErrInvalidOutcome", err)
	}
	var o classify.Outcome
	if err := o.UnmarshalText([]byte("maybe")); !errors.Is(err, classify.ErrInvalidOutcome) {
		t.Errorf("UnmarshalText(maybe) error = %v, want ErrInvalidOutcome", err)
	}
}

func TestVerdictString(t *testing.T) {
	for _, tc := range []struct {
		v    classify.Verdict
		want string
	}{
		{classify.Verdict{Outcome: classify.Success, Reason: "success"}, "success"},
		{classify.Verdict{Outcome: classify.Retryable, Reason: "error"}, "retryable error"},
		{classify.Verdict{Outcome: classify.Retryable, Reason: "retry_after", RetryAfter: 2 * time.Second}, "retryable retry_after 2s"},
		{classify.Verdict{Outcome: classify.Abort}, "abort"},
	} {
		if got := tc.v.String(); got != tc.want {
			t.Errorf("%#v.String() = %q, want %q", tc.v, got, tc.want)
		}
	}
}

// TestNilFuncIsDefault verifies that a nil Func does not panic but behaves as
// Default.
func TestNilFuncIsDefault(t *testing.T) {
	var f classify.Func
	err := classify.Permanent(errors.New("bad"))
	if got, want := f.Classify(context.Background(), err), classify.Default.Classify(context.Background(), err); got != want {
		t.Errorf("nil Func: %v, want %v", got, want)
	}
}
