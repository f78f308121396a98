package observe_test

import (
	"context"
	"testing"
	"time"

	"github.com/regoresilience/rego/internal/attemptkey"
	"github.com/regoresilience/rego/observe"
	"github.com/regoresilience/rego/policy"
)

// attemptCtx is how an executor can carry the attempt without allocating
// for it: the AttemptInfo lives inside its own context value and Value
// answers with a pointer to it.
type attemptCtx struct {
	context.Context
	info observe.AttemptInfo
}

func (c *attemptCtx) Value(key any) any {
	if key == (attemptkey.Key{}) {
		return &c.info
	}
	return c.Context.Value(key)
}

// sourceCtx carries the attempt as a value with an AttemptInfo method: it computes the info
// from what it holds.
type sourceCtx struct {
	context.Context
	key policy.Key
}

func (c *sourceCtx) Value(key any) any {
	if key == (attemptkey.Key{}) {
		return c
	}
	return c.Context.Value(key)
}

func (c *sourceCtx) AttemptInfo() observe.AttemptInfo {
	d, _ := c.Deadline()
	return observe.AttemptInfo{Key: c.key, Index: 2, Hedge: true, Deadline: d}
}

func newSourceCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithDeadline(context.Background(), info.Deadline)
	t.Cleanup(cancel)
	return &sourceCtx{Context: ctx, key: info.Key}
}

var info = observe.AttemptInfo{
	Key:      policy.Key{Namespace: "svc", Name: "Op"},
	Index:    2,
	Hedge:    true,
	Deadline: time.Date(2025, 1, 1, 0, 0, 1, 0, time.UTC),
}

func TestAttemptFromContext(t *testing.T) {
	type other struct{}
	bg := context.Background()
	for _, tc := range []struct {
		name   string
		ctx    context.Context
		wantOK bool
	}{
		{"nil", nil, false},
		{"absent", bg, false},
		{"other_key", context.WithValue(bg, other{}, &info), false},
		{"nil_pointer", context.WithValue(bg, attemptkey.Key{}, (*observe.AttemptInfo)(nil)), false},
		{"wrong_type", context.WithValue(bg, attemptkey.Key{}, "x"), false},
		{"ContextWithAttempt", observe.ContextWithAttempt(bg, info), true},
		{"ContextWithAttempt_nil_parent", observe.ContextWithAttempt(nil, info), true}, //nolint:staticcheck // nil is handled on purpose
		{"by_value", context.WithValue(bg, attemptkey.Key{}, info), true},
		{"executor_ctx", &attemptCtx{Context: bg, info: info}, true},
		{"attempt_source", newSourceCtx(t), true},
		{"below_other_values", context.WithValue(context.WithValue(&attemptCtx{Context: bg, info: info}, other{}, 1), other{}, 2), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := observe.AttemptFromContext(tc.ctx)
			if ok != tc.wantOK {
				t.Fatalf("ok = %v, want %v", ok, tc.wantOK)
			}
			if ok && got != info {
				t.Errorf("info = %+v, want %+v", got, info)
			}
			if !ok && got != (observe.AttemptInfo{}) {
				t.Errorf("not found but info = %+v", got)
			}
		})
	}
}

// TestContextWithAttemptCopies verifies that the context holds its own copy.
func TestContextWithAttemptCopies(t *testing.T) {
	i := info
	ctx := observe.ContextWithAttempt(context.Background(), i)
	i.Index = 99
	if got, _ := observe.AttemptFromContext(ctx); got.Index != 2 {
		t.Errorf("Index = %d, want 2", got.Index)
	}
}

func TestAttemptFromContextDoesNotAllocate(t *testing.T) {
	for name, ctx := range map[string]context.Context{
		"executor_ctx":       &attemptCtx{Context: context.Background(), info: info},
		"attempt_source":     newSourceCtx(t),
		"ContextWithAttempt": observe.ContextWithAttempt(context.Background(), info),
		"absent":             context.Background(),
	} {
		if n := testing.AllocsPerRun(100, func() { _, _ = observe.AttemptFromContext(ctx) }); n != 0 {
			t.Errorf("%s: %v allocs", name, n)
		}
	}
}
