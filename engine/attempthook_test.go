package engine

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/regoresilience/rego/classify"
	"github.com/regoresilience/rego/observe"
	"github.com/regoresilience/rego/policy"
)

type hookKey struct{}

// recHook records every attempt's start and end, and checks that each end
// gets the context its start returned and comes once.
type recHook struct {
	t      testing.TB
	mu     sync.Mutex
	starts []observe.AttemptInfo
	ends   map[int][]AttemptEnd // by attempt index
}

func newRecHook(t testing.TB) *recHook { return &recHook{t: t, ends: map[int][]AttemptEnd{}} }

func (h *recHook) StartAttempt(ctx context.Context, info observe.AttemptInfo) context.Context {
	if got, ok := observe.AttemptFromContext(ctx); !ok || got != info {
		h.t.Errorf("StartAttempt: ctx carries %+v, info is %+v", got, info)
	}
	h.mu.Lock()
	h.starts = append(h.starts, info)
	h.mu.Unlock()
	return context.WithValue(ctx, hookKey{}, info.Index)
}

func (h *recHook) EndAttempt(ctx context.Context, end AttemptEnd) {
	idx, ok := ctx.Value(hookKey{}).(int)
	if !ok {
		h.t.Errorf("EndAttempt: not the context StartAttempt returned")
	}
	h.mu.Lock()
	h.ends[idx] = append(h.ends[idx], end)
	h.mu.Unlock()
}

// log renders the ends by attempt index: "i:outcome/reason[ canceled][ panicked][ err]".
func (h *recHook) log() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for i := range h.starts {
		for _, e := range h.ends[i] {
			s := fmt.Sprintf("%d:%v/%s", i, e.Outcome, e.Reason)
			if e.Canceled {
				s += " canceled"
			}
			if e.Panicked {
				s += " panicked"
			}
			if e.Err != nil {
				s += " " + e.Err.Error()
			}
			out = append(out, s)
		}
		if len(h.ends[i]) == 0 {
			out = append(out, fmt.Sprintf("%d: not ended", i))
		}
	}
	return out
}

func checkHook(t *testing.T, h *recHook, want ...string) {
	t.Helper()
	if got := h.log(); !slices.Equal(got, want) {
		t.Errorf("hook saw %q, want %q", got, want)
	}
}

// TestAttemptHookRetried verifies that each attempt of a retried call runs
// under the hook's context, which keeps the attempt's deadline,
// cancellation and AttemptInfo, and that each ends once with its verdict:
// with and without a timeline (the loop with and without a recorder).
func TestAttemptHookRetried(t *testing.T) {
	for _, timeline := range []bool{false, true} {
		t.Run(fmt.Sprint("timeline=", timeline), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				h := newRecHook(t)
				p := fixed(3, 10*time.Millisecond)
				p.Retry.AttemptTimeout = 50 * time.Millisecond
				e := newEngine(t, withPolicy(p), WithAttemptHook(h))
				op := func(ctx context.Context) error {
					info, ok := observe.AttemptFromContext(ctx)
					if idx, _ := ctx.Value(hookKey{}).(int); !ok || idx != info.Index {
						t.Errorf("op: hook value %v, attempt %+v", ctx.Value(hookKey{}), info)
					}
					if d, ok := ctx.Deadline(); !ok || !d.Equal(time.Now().Add(50*time.Millisecond)) {
						t.Errorf("op: deadline %v %v", d, ok)
					}
					switch info.Index {
					case 0: // the attempt timeout reaches the op through the hook's context
						<-ctx.Done()
						return ctx.Err()
					case 1:
						return errFlaky
					}
					return nil
				}
				var err error
				if timeline {
					_, err = e.DoWithTimeline(context.Background(), key, op)
				} else {
					err = e.Do(context.Background(), key, op)
				}
				if err != nil {
					t.Fatal(err)
				}
				checkHook(t, h,
					"0:retryable/"+classify.ReasonAttemptTimeout+" context deadline exceeded",
					"1:retryable/error flaky",
					"2:success/success")
			})
		})
	}
}

// TestAttemptHookHedges verifies that both attempts of a hedged round end
// once, the loser as cancelled, whichever wins: a losing primary before
// the call returns, a losing hedge when its op returns.
func TestAttemptHookHedges(t *testing.T) {
	for _, hedgeWins := range []bool{true, false} {
		t.Run(fmt.Sprint("hedgeWins=", hedgeWins), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				h := newRecHook(t)
				e := newEngine(t, withPolicy(hedged(1, 50*time.Millisecond)), WithAttemptHook(h))
				op := func(ctx context.Context) error {
					info, _ := observe.AttemptFromContext(ctx)
					if info.Hedge == hedgeWins { // the hedge starts at 50ms
						return wait(ctx, 80*time.Millisecond)
					}
					return wait(ctx, time.Hour)
				}
				if err := e.Do(context.Background(), key, op); err != nil {
					t.Fatal(err)
				}
				if hedgeWins {
					// The primary runs in the caller's goroutine and the
					// winner ends before its result goes out.
					checkHook(t, h, "0:abort/hedge_lost canceled context canceled", "1:success/success")
				}
				synctest.Wait() // the losing hedge's goroutine has ended
				if !hedgeWins {
					checkHook(t, h, "0:success/success", "1:abort/hedge_lost canceled context canceled")
				}
			})
		})
	}
}

// TestAttemptHookPanics verifies that an attempt whose op panics or calls
// runtime.Goexit, or whose classifier panics, is ended once as panicked,
// in the caller's goroutine and in a hedge's, and that the panic goes on.
func TestAttemptHookPanics(t *testing.T) {
	boom := func(context.Context) error { panic("boom") }
	goexit := func(context.Context) error { runtime.Goexit(); return nil }
	hedgeBoom := func(ctx context.Context) error {
		if info, _ := observe.AttemptFromContext(ctx); info.Hedge {
			panic("boom")
		}
		return wait(ctx, time.Hour)
	}
	cls := classify.Func(func(context.Context, error) classify.Verdict { panic("boom") })
	classifying := fixed(2, time.Millisecond)
	classifying.Classifier = "faulty"
	for _, tc := range []struct {
		name string
		p    policy.Policy
		op   func(context.Context) error
		want []string
	}{
		{"op", fixed(2, time.Millisecond), boom, []string{"0:abort/panic panicked"}},
		{"op-goexit", fixed(2, time.Millisecond), goexit, []string{"0:abort/panic panicked"}},
		{"hedged-primary", hedged(1, time.Hour), boom, []string{"0:abort/panic panicked"}},
		{"hedge", hedged(1, 10*time.Millisecond), hedgeBoom,
			[]string{"0:abort/hedge_lost canceled context canceled", "1:abort/panic panicked"}},
		{"classifier", classifying, func(context.Context) error { return errFlaky }, []string{"0:abort/panic panicked flaky"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				h := newRecHook(t)
				e := newEngine(t, withPolicy(tc.p), WithAttemptHook(h), WithClassifier("faulty", cls), WithLogger(discardLogger()))
				done := make(chan any)
				go func() {
					returned := false
					defer func() {
						if !returned {
							done <- recover()
						}
					}()
					e.Do(context.Background(), key, tc.op)
					returned = true
					done <- "returned"
				}()
				if r := <-done; r != "boom" && r != nil {
					t.Errorf("recovered %v", r)
				}
				synctest.Wait()
				checkHook(t, h, tc.want...)
			})
		})
	}
}

// nilCtxHook returns a nil context: the op gets the attempt's.
type nilCtxHook struct{ ends int }

func (*nilCtxHook) StartAttempt(context.Context, observe.AttemptInfo) context.Context { return nil }
func (h *nilCtxHook) EndAttempt(context.Context, AttemptEnd)                          { h.ends++ }

func TestAttemptHookNilContext(t *testing.T) {
	h := &nilCtxHook{}
	e := newEngine(t, WithAttemptHook(h))
	err := e.Do(context.Background(), key, func(ctx context.Context) error {
		if _, ok := observe.AttemptFromContext(ctx); !ok {
			t.Error("the op's context carries no attempt")
		}
		return nil
	})
	if err != nil || h.ends != 1 {
		t.Errorf("err %v, %d ends", err, h.ends)
	}
}

func TestWithAttemptHookInvalid(t *testing.T) {
	var typedNil *recHook
	for name, opts := range map[string][]Option{
		"nil":       {WithAttemptHook(nil)},
		"typed-nil": {WithAttemptHook(typedNil)},
		"twice":     {WithAttemptHook(newRecHook(t)), WithAttemptHook(newRecHook(t))},
	} {
		if _, err := New(opts...); !errors.Is(err, ErrInvalidOption) {
			t.Errorf("%s: err = %v, want ErrInvalidOption", name, err)
		}
	}
}
