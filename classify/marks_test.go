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

type codeError struct{ code int }

func (e *codeError) Error() string { return fmt.Sprintf("code %d", e.code) }

func TestPermanentNil(t *testing.T) {
	if classify.Permanent(nil) != nil {
		t.Fatal("Permanent(nil) != nil")
	}
	if classify.IsPermanent(nil) {
		t.Fatal("IsPermanent(nil)")
	}
}

// TestPermanentTransparent verifies that the mark keeps the original text and
// that errors.Is/As reach the original error through wrapping and joins.
func TestPermanentTransparent(t *testing.T) {
	base := &codeError{code: 404}
	p := classify.Permanent(base)
	if p.Error() != base.Error() {
		t.Errorf("Error() = %q, want %q", p.Error(), base.Error())
	}
	if classify.Permanent(p) != p {
		t.Error("Permanent(Permanent(err)) wrapped twice")
	}
	for name, err := range map[string]error{
		"direct":  p,
		"wrapped": fmt.Errorf("get user: %w", p),
		"twice":   fmt.Errorf("outer: %w", fmt.Errorf("inner: %w", p)),
		"joined":  errors.Join(io.EOF, fmt.Errorf("x: %w", p)),
		"multi%w": fmt.Errorf("%w and %w", io.EOF, p),
	} {
		t.Run(name, func(t *testing.T) {
			if !classify.IsPermanent(err) {
				t.Error("IsPermanent = false")
			}
			if !errors.Is(err, base) {
				t.Error("errors.Is(err, base) = false")
			}
			var ce *codeError
			if !errors.As(err, &ce) || ce.code != 404 {
				t.Errorf("errors.As codeError = %v", ce)
			}
			var pe *classify.PermanentError
			if !errors.As(err, &pe) || pe.Err != base {
				t.Errorf("errors.As PermanentError = %v", pe)
			}
		})
	}
	if classify.IsPermanent(fmt.Errorf("x: %w", base)) {
		t.Error("unmarked error reported permanent")
	}
}

func TestRetryAfter(t *testing.T) {
	base := errors.New("503")
	if classify.RetryAfter(nil, time.Second) != nil {
		t.Error("RetryAfter(nil) != nil")
	}
	if classify.RetryAfter(base, 0) != base || classify.RetryAfter(base, -time.Second) != base {
		t.Error("RetryAfter(err, d<=0) should return err unchanged")
	}
	if d, ok := classify.RetryAfterOf(base); ok || d != 0 {
		t.Errorf("RetryAfterOf(unmarked) = %v, %v", d, ok)
	}
	if d, ok := classify.RetryAfterOf(nil); ok || d != 0 {
		t.Errorf("RetryAfterOf(nil) = %v, %v", d, ok)
	}
	r := classify.RetryAfter(base, 2*time.Second)
	if r.Error() != "503" {
		t.Errorf("Error() = %q", r.Error())
	}
	for name, tc := range map[string]struct {
		err  error
		want time.Duration
	}{
		"direct":  {r, 2 * time.Second},
		"wrapped": {fmt.Errorf("call: %w", r), 2 * time.Second},
		"joined_max": {errors.Join(
			classify.RetryAfter(errors.New("a"), time.Second), io.EOF,
			fmt.Errorf("b: %w", classify.RetryAfter(errors.New("b"), 5*time.Second))), 5 * time.Second},
		"nested_max": {classify.RetryAfter(classify.RetryAfter(base, 3*time.Second), time.Second), 3 * time.Second},
		"zero_mark":  {&classify.RetryAfterError{Err: base}, 0},
	} {
		t.Run(name, func(t *testing.T) {
			d, ok := classify.RetryAfterOf(tc.err)
			if d != tc.want || ok != (tc.want > 0) {
				t.Errorf("RetryAfterOf = %v, %v; want %v", d, ok, tc.want)
			}
			if !errors.Is(tc.err, base) && name != "joined_max" {
				t.Error("errors.Is(err, base) = false")
			}
		})
	}
}

// TestZeroValueMarks verifies that hand-built marks with nil fields or nil
// receivers neither panic nor lie.
func TestZeroValueMarks(t *testing.T) {
	var pe *classify.PermanentError
	if pe.Error() == "" || pe.Unwrap() != nil {
		t.Error("nil *PermanentError")
	}
	if (&classify.PermanentError{}).Error() != "permanent error" {
		t.Error("empty PermanentError text")
	}
	var re *classify.RetryAfterError
	if re.Error() == "" || re.Unwrap() != nil {
		t.Error("nil *RetryAfterError")
	}
	if got := (&classify.RetryAfterError{After: time.Second}).Error(); got != "retry after 1s" {
		t.Errorf("empty RetryAfterError text = %q", got)
	}
	if !classify.IsPermanent(&classify.PermanentError{}) {
		t.Error("empty PermanentError is still a permanent mark")
	}
	v := classify.Default.Classify(context.Background(), error(pe))
	if v.Outcome != classify.Abort {
		t.Errorf("typed-nil permanent: %v", v)
	}
}

// asPermanent claims to be permanent through a custom As method, the way
// errors.As allows.
type asPermanent struct{}

func (asPermanent) Error() string { return "custom" }
func (asPermanent) As(target any) bool {
	if p, ok := target.(**classify.PermanentError); ok {
		*p = &classify.PermanentError{Err: errors.New("custom")}
		return true
	}
	return false
}

type asRetryAfter struct{}

func (asRetryAfter) Error() string { return "custom pushback" }
func (asRetryAfter) As(target any) bool {
	if p, ok := target.(**classify.RetryAfterError); ok {
		*p = &classify.RetryAfterError{After: 7 * time.Second}
		return true
	}
	return false
}

// TestCustomAs verifies that marks exposed through an As method count, as
// they do for errors.As.
func TestCustomAs(t *testing.T) {
	if !classify.IsPermanent(fmt.Errorf("w: %w", asPermanent{})) {
		t.Error("custom As permanent not seen")
	}
	if d, ok := classify.RetryAfterOf(asRetryAfter{}); !ok || d != 7*time.Second {
		t.Errorf("custom As retry-after = %v, %v", d, ok)
	}
}

// selfLoop unwraps to itself forever: errors.Is would never return on it.
type selfLoop struct{}

func (e *selfLoop) Error() string { return "loop" }
func (e *selfLoop) Unwrap() error { return e }

// TestPathologicalTrees verifies that a cyclic Unwrap or a huge join is
// walked within a bound instead of hanging the attempt loop.
func TestPathologicalTrees(t *testing.T) {
	if classify.IsPermanent(&selfLoop{}) {
		t.Error("loop reported permanent")
	}
	v := classify.Default.Classify(context.Background(), &selfLoop{})
	if v.Outcome != classify.Retryable || v.Reason != classify.ReasonError {
		t.Errorf("loop verdict %v", v)
	}
	errs := make([]error, 5000)
	for i := range errs {
		errs[i] = io.EOF
	}
	errs[len(errs)-1] = classify.Permanent(io.EOF) // past the bound: not seen
	if classify.IsPermanent(errors.Join(errs...)) {
		t.Error("mark beyond the walk bound should not be seen")
	}
	errs[10] = classify.Permanent(io.EOF)
	if !classify.IsPermanent(errors.Join(errs...)) {
		t.Error("mark within the bound not seen")
	}
}
