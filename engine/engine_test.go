package engine

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/regoresilience/rego/budget"
	"github.com/regoresilience/rego/classify"
	"github.com/regoresilience/rego/controlplane"
	"github.com/regoresilience/rego/observe"
	"github.com/regoresilience/rego/policy"
)

var key = policy.ParseKey("svc.Op")

func fixed(attempts int, backoff time.Duration) policy.Policy {
	return policy.Policy{Retry: policy.Retry{MaxAttempts: attempts, InitialBackoff: backoff,
		MaxBackoff: backoff, Multiplier: 1, Jitter: policy.JitterNone}}
}

// TestSuccessFirstAttempt verifies that a succeeding op runs once and returns nil.
func TestSuccessFirstAttempt(t *testing.T) {
	e := newEngine(t)
	op, calls := failN(0, nil)
	tl, err := e.DoWithTimeline(context.Background(), key, op)
	if err != nil || *calls != 1 || len(tl.Attempts) != 1 || !tl.Succeeded() {
		t.Fatalf("err=%v calls=%d timeline=%v", err, *calls, tl)
	}
	if tl.PolicySource != "default" {
		t.Errorf("PolicySource = %q, want default", tl.PolicySource)
	}
}

// TestRetriesUntilSuccess verifies retries with the policy's fixed backoff.
func TestRetriesUntilSuccess(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEngine(t, withPolicy(fixed(3, 100*time.Millisecond)))
		op, calls := failN(2, errFlaky)
		start := time.Now()
		tl, err := e.DoWithTimeline(context.Background(), key, op)
		if err != nil || *calls != 3 {
			t.Fatalf("err=%v calls=%d", err, *calls)
		}
		if got := time.Since(start); got < 200*time.Millisecond || got > 210*time.Millisecond {
			t.Errorf("took %v, want 200ms plus at most a tick per wait", got)
		}
		if len(tl.Attempts) != 3 || tl.Attempts[1].Backoff != 100*time.Millisecond {
			t.Errorf("timeline:\n%v", tl)
		}
		for i, a := range tl.Attempts[:2] {
			if a.Outcome != classify.Retryable || !errors.Is(a.Err, errFlaky) {
				t.Errorf("attempt %d: %+v", i, a)
			}
		}
	})
}

// TestExhausted verifies the error after the last attempt wraps the op's error.
func TestExhausted(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEngine(t, withPolicy(fixed(3, time.Millisecond)))
		op, calls := failN(10, errFlaky)
		err := e.Do(context.Background(), key, op)
		var re *Error
		if !errors.As(err, &re) || re.Reason != StopAttempts || re.Attempts != 3 || *calls != 3 {
			t.Fatalf("err=%v calls=%d", err, *calls)
		}
		if !errors.Is(err, errFlaky) {
			t.Errorf("errors.Is(err, errFlaky) = false for %v", err)
		}
	})
}

// TestPermanentAborts verifies a Permanent error is never retried.
func TestPermanentAborts(t *testing.T) {
	e := newEngine(t, withPolicy(fixed(5, time.Millisecond)))
	op, calls := failN(10, classify.Permanent(errFlaky))
	err := e.Do(context.Background(), key, op)
	var re *Error
	if !errors.As(err, &re) || re.Reason != StopAbort || *calls != 1 || !errors.Is(err, errFlaky) {
		t.Fatalf("err=%v calls=%d", err, *calls)
	}
}

// TestCancelBeforeFirstAttempt verifies no attempt starts on a cancelled context.
func TestCancelBeforeFirstAttempt(t *testing.T) {
	e := newEngine(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	op, calls := failN(0, nil)
	tl, err := e.DoWithTimeline(ctx, key, op)
	if !errors.Is(err, context.Canceled) || *calls != 0 || len(tl.Attempts) != 0 {
		t.Fatalf("err=%v calls=%d", err, *calls)
	}
}

// TestCancelDuringBackoff verifies a cancel ends the backoff wait at once.
func TestCancelDuringBackoff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEngine(t, withPolicy(fixed(3, time.Hour)))
		ctx, cancel := context.WithCancel(context.Background())
		op, calls := failN(10, errFlaky)
		done := make(chan error)
		go func() { done <- e.Do(ctx, key, op) }()
		synctest.Wait() // the call is parked in its backoff
		start := time.Now()
		cancel()
		err := <-done
		if !errors.Is(err, context.Canceled) || !errors.Is(err, errFlaky) || *calls != 1 {
			t.Fatalf("err=%v calls=%d", err, *calls)
		}
		if d := time.Since(start); d != 0 {
			t.Errorf("returned %v after cancel, want at once", d)
		}
	})
}

// TestAttemptTimeout verifies each attempt ends at its own timeout and is retried.
func TestAttemptTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := fixed(2, 10*time.Millisecond)
		p.Retry.AttemptTimeout = 50 * time.Millisecond
		e := newEngine(t, withPolicy(p))
		start := time.Now()
		var deadlines []time.Duration
		tl, err := e.DoWithTimeline(context.Background(), key, func(ctx context.Context) error {
			d, ok := ctx.Deadline()
			if !ok {
				t.Error("attempt has no deadline")
			}
			deadlines = append(deadlines, d.Sub(start))
			<-ctx.Done()
			return ctx.Err()
		})
		if !errors.Is(err, context.DeadlineExceeded) || len(tl.Attempts) != 2 {
			t.Fatalf("err=%v\n%v", err, tl)
		}
		if tl.Attempts[0].Reason != classify.ReasonAttemptTimeout {
			t.Errorf("reason %q", tl.Attempts[0].Reason)
		}
		if want := []time.Duration{50 * time.Millisecond, 110 * time.Millisecond}; len(deadlines) != 2 ||
			deadlines[0] != want[0] || deadlines[1] < want[1] || deadlines[1] > want[1]+2*time.Millisecond {
			t.Errorf("deadlines %v, want about %v", deadlines, want)
		}
		if d := tl.Attempts[0].Duration(); d < 50*time.Millisecond || d > 52*time.Millisecond {
			t.Errorf("first attempt lasted %v, want 50ms plus at most a tick", d)
		}
	})
}

// TestAttemptTimeoutCappedByTimeout verifies an attempt never outlives the call's Timeout.
func TestAttemptTimeoutCappedByTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := fixed(3, time.Millisecond)
		p.Retry.AttemptTimeout = time.Second
		p.Timeout = 300 * time.Millisecond
		e := newEngine(t, withPolicy(p))
		start := time.Now()
		err := e.Do(context.Background(), key, func(ctx context.Context) error {
			if d, _ := ctx.Deadline(); d.Sub(start) > 300*time.Millisecond {
				t.Errorf("attempt deadline %v after start, beyond the 300ms timeout", d.Sub(start))
			}
			<-ctx.Done()
			return ctx.Err()
		})
		var re *Error
		if !errors.As(err, &re) || re.Reason != StopDeadline || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err=%v", err)
		}
		if d := time.Since(start); d > 302*time.Millisecond {
			t.Errorf("call took %v, want the 300ms timeout", d)
		}
	})
}

// TestCallerDeadlineWins verifies the caller's earlier deadline bounds attempts.
func TestCallerDeadlineWins(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := fixed(3, time.Millisecond)
		p.Retry.AttemptTimeout = time.Second
		e := newEngine(t, withPolicy(p))
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		op := func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }
		start := time.Now()
		err := e.Do(ctx, key, op)
		if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) != 100*time.Millisecond {
			t.Fatalf("err=%v after %v", err, time.Since(start))
		}
	})
}

// TestDeadlineSkip verifies a retry whose backoff ends past the deadline is not started.
func TestDeadlineSkip(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := fixed(3, time.Second)
		p.Timeout = 500 * time.Millisecond
		e := newEngine(t, withPolicy(p))
		op, calls := failN(10, errFlaky)
		start := time.Now()
		tl, err := e.DoWithTimeline(context.Background(), key, op)
		var re *Error
		if !errors.As(err, &re) || re.Reason != StopDeadline || !errors.Is(err, errFlaky) || *calls != 1 {
			t.Fatalf("err=%v calls=%d", err, *calls)
		}
		if time.Since(start) != 0 || !hasEvent(tl, observe.EventDeadlineSkip) {
			t.Errorf("took %v; timeline:\n%v", time.Since(start), tl)
		}
	})
}

// TestRetryAfterPushback verifies server pushback lengthens the wait, up to the policy cap.
func TestRetryAfterPushback(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := fixed(3, 10*time.Millisecond)
		p.Retry.MaxRetryAfter = 2 * time.Second
		e := newEngine(t, withPolicy(p))
		op, _ := failN(2, classify.RetryAfter(errFlaky, time.Second))
		tl, err := e.DoWithTimeline(context.Background(), key, op)
		if err != nil || tl.Attempts[1].Backoff != time.Second || !hasEvent(tl, observe.EventPushback) {
			t.Fatalf("err=%v\n%v", err, tl)
		}
		op, _ = failN(1, classify.RetryAfter(errFlaky, time.Hour))
		tl, err = e.DoWithTimeline(context.Background(), key, op)
		if err != nil || tl.Attempts[1].Backoff != 2*time.Second {
			t.Fatalf("pushback of an hour not capped: err=%v\n%v", err, tl)
		}
	})
}

// TestObserverOrder verifies OnStart, OnAttempt per attempt, then exactly one end callback.
func TestObserverOrder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		o := &recObserver{t: t}
		e := newEngine(t, withPolicy(fixed(3, time.Millisecond)), WithObserver(o))
		op, _ := failN(1, errFlaky)
		if err := e.Do(context.Background(), key, op); err != nil {
			t.Fatal(err)
		}
		op, _ = failN(5, errFlaky)
		e.Do(context.Background(), key, op)
		want := "start attempt:retryable attempt:success success start attempt:retryable attempt:retryable attempt:retryable failure"
		if got := strings.Join(o.log(), " "); got != want {
			t.Errorf("observer saw\n %s\nwant\n %s", got, want)
		}
	})
}

// TestMissingClassifierFallsBack verifies an unregistered classifier name is a visible fallback.
func TestMissingClassifierFallsBack(t *testing.T) {
	p := fixed(1, time.Millisecond)
	p.Classifier = "nope"
	e := newEngine(t, withPolicy(p))
	tl, err := e.DoWithTimeline(context.Background(), key, func(context.Context) error { return nil })
	if err != nil || !hasEvent(tl, observe.EventFallback) {
		t.Fatalf("err=%v\n%v", err, tl)
	}
}

// TestNamedClassifier verifies a policy's classifier name picks the registered one.
func TestNamedClassifier(t *testing.T) {
	p := fixed(3, time.Millisecond)
	p.Classifier = "never-retry"
	never := classify.Func(func(ctx context.Context, err error) classify.Verdict {
		if err == nil {
			return classify.Verdict{Outcome: classify.Success, Reason: "ok"}
		}
		return classify.Verdict{Outcome: classify.Abort, Reason: "domain"}
	})
	e := newEngine(t, withPolicy(p), WithClassifier("never-retry", never))
	op, calls := failN(5, errFlaky)
	tl, err := e.DoWithTimeline(context.Background(), key, op)
	if err == nil || *calls != 1 || tl.Attempts[0].Reason != "domain" {
		t.Fatalf("err=%v calls=%d", err, *calls)
	}
}

// TestInvalidKeyFailsFast verifies a call whose key fails Key.Validate
// fails at once, before op runs, with the *policy.KeyError naming the key and
// the rule, on every entry point, and that no worker is made for the key.
func TestInvalidKeyFailsFast(t *testing.T) {
	e := newEngine(t, withPolicy(fixed(3, time.Millisecond)))
	ctx := context.Background()
	for _, k := range []policy.Key{{}, policy.ParseKey("GetUser"), policy.ParseKey("users.GetUser/42"), policy.ParseKey("users.Get?id=123")} {
		ran := 0
		op := func(context.Context) error { ran++; return nil }
		check := func(how string, err error) {
			t.Helper()
			var ke *policy.KeyError
			if !errors.Is(err, policy.ErrInvalidKey) || !errors.As(err, &ke) || ke.Key != k.String() || ke.Reason == "" {
				t.Errorf("%s(%q): err = %v, want a *policy.KeyError for the key", how, k, err)
			}
			if !strings.Contains(err.Error(), k.String()) {
				t.Errorf("%s(%q): error %q does not name the key", how, k, err)
			}
		}
		check("Do", e.Do(ctx, k, op))
		tl, err := e.DoWithTimeline(ctx, k, op)
		check("DoWithTimeline", err)
		if tl != nil {
			t.Errorf("DoWithTimeline(%q): a timeline for a call that never started", k)
		}
		_, err = DoValue(e, ctx, k, func(context.Context) (int, error) { ran++; return 1, nil })
		check("DoValue", err)
		if ran != 0 {
			t.Errorf("key %q: op ran %d times, want 0", k, ran)
		}
	}
	if n := e.pool.Len(); n != 0 {
		t.Errorf("invalid keys were stored: %d entries", n)
	}
}

// TestInvalidKeyOverflow verifies WithInvalidKeys(InvalidKeyOverflow) runs an
// invalid key under the default policy (not the one its namespace matches)
// with a fallback event, and warns once per distinct bad key, not only for
// the first one, up to the rate limit.
func TestInvalidKeyOverflow(t *testing.T) {
	var logs bytes.Buffer
	e := newEngine(t, WithInvalidKeys(InvalidKeyOverflow), WithLogger(slog.New(slog.NewTextHandler(&logs, nil))),
		WithProvider(controlplane.NewStatic(map[string]policy.Policy{"users.*": fixed(5, time.Millisecond)})))
	bad := []policy.Key{{}, policy.ParseKey("users.GetUser/42"), policy.ParseKey("users.Get?id=123")}
	for range 3 {
		for _, k := range bad {
			op, calls := failN(1, errFlaky)
			tl, err := e.DoWithTimeline(context.Background(), k, op)
			if err != nil || !hasEvent(tl, observe.EventFallback) || tl.Pattern != "" {
				t.Fatalf("key %q: err=%v\n%v", k, err, tl)
			}
			if *calls != 2 { // the default policy retries once here: it is not users.*'s five attempts
				t.Fatalf("key %q: %d attempts", k, *calls)
			}
		}
	}
	if n := e.pool.Len(); n != 0 {
		t.Errorf("invalid keys were stored: %d entries", n)
	}
	for _, k := range bad {
		got := strings.Count(logs.String(), " key="+strconv.Quote(k.String())+" ")
		if k.String() != "" && !strings.ContainsAny(k.String(), " =\"?") {
			got += strings.Count(logs.String(), " key="+k.String()+" ") // slog quotes only when it must
		}
		if got != 1 {
			t.Errorf("key %q warned %d times, want once:\n%s", k, got, logs.String())
		}
	}
	// A flood of distinct bad keys is rate-limited, and the next warning
	// says how many were left out.
	logs.Reset()
	for i := range 3 * invalidKeyWarnings {
		e.Do(context.Background(), policy.Key{Namespace: "users", Name: "Get/" + strconv.Itoa(i)}, func(context.Context) error { return nil })
	}
	if got := strings.Count(logs.String(), "invalid policy key"); got != invalidKeyWarnings-len(bad) {
		t.Errorf("%d warnings in a minute, want %d:\n%s", got, invalidKeyWarnings-len(bad), logs.String())
	}
}

// TestPolicyResolution verifies exact, namespace and catch-all patterns.
func TestPolicyResolution(t *testing.T) {
	e := newEngine(t, WithProvider(controlplane.NewStatic(map[string]policy.Policy{
		"svc.Op": fixed(1, time.Millisecond),
		"svc.*":  fixed(2, time.Millisecond),
		"*":      fixed(4, time.Millisecond),
	})))
	for k, want := range map[string]string{"svc.Op": "svc.Op", "svc.Other": "svc.*", "db.Q": "*"} {
		tl, _ := e.DoWithTimeline(context.Background(), policy.ParseKey(k), func(context.Context) error { return nil })
		if tl.Pattern != want || tl.PolicySource != "static" {
			t.Errorf("%s: pattern %q source %q, want %q static", k, tl.Pattern, tl.PolicySource, want)
		}
	}
}

// TestInvalidStaticPolicy verifies New reports a bad static policy instead of running it.
func TestInvalidStaticPolicy(t *testing.T) {
	bad := controlplane.NewStatic(map[string]policy.Policy{"svc.Op": {Retry: policy.Retry{MaxAttempts: -1}}})
	if _, err := New(WithProvider(bad)); !errors.Is(err, ErrInvalidOption) {
		t.Fatalf("New = %v, want ErrInvalidOption", err)
	}
}

// TestInvalidOptions verifies bad options are errors, not panics.
func TestInvalidOptions(t *testing.T) {
	for name, o := range map[string]Option{
		"nil option":     nil,
		"nil provider":   WithProvider(nil),
		"nil observer":   WithObserver(nil),
		"nil classifier": WithClassifier("x", nil),
		"empty name":     WithClassifier("", classify.Default),
		"nil budget":     WithBudget("x", nil),
		"nil clock":      WithClock(nil),
		"zero tick":      WithSchedulerTick(0),
		"nil logger":     WithLogger(nil),
		"bad default":    WithDefaultPolicy(policy.Policy{Timeout: -time.Second}),
		"bad mode":       WithMissingBudget(FailureMode(9)),
		"bad key mode":   WithInvalidKeys(InvalidKeyMode(9)),
		"typed nil":      WithBudget("x", (*budget.Ratio)(nil)),
		// Names follow policy.ValidateName, the rule of a policy document:
		// a name no policy could hold is refused at start.
		"space around": WithClassifier(" http", classify.Default),
		"control char": WithBudget("db\twrites", budget.DefaultRetry(nil)),
		"too long":     WithClassifier(strings.Repeat("x", 129), classify.Default),
	} {
		if _, err := New(o); !errors.Is(err, ErrInvalidOption) {
			t.Errorf("%s: New = %v, want ErrInvalidOption", name, err)
		}
	}
	if _, err := New(WithClassifier("a", classify.Default), WithClassifier("a", classify.Default)); !errors.Is(err, ErrInvalidOption) {
		t.Errorf("duplicate classifier: %v", err)
	}
	if _, err := New(WithBudget("a", budget.DefaultRetry(nil)), WithBudget("a", budget.DefaultRetry(nil))); !errors.Is(err, ErrInvalidOption) {
		t.Errorf("duplicate budget: %v", err)
	}
	// An inner space is a name a policy may hold, so it may be registered.
	e := newEngine(t, WithClassifier("my http", classify.Default))
	if e == nil {
		t.Fatal("no engine")
	}
}

// TestNilInputs verifies nil op and nil ctx are errors.
func TestNilInputs(t *testing.T) {
	e := newEngine(t)
	if err := e.Do(context.Background(), key, nil); !errors.Is(err, ErrNilOp) {
		t.Errorf("nil op: %v", err)
	}
	//lint:ignore SA1012 nil ctx on purpose
	if err := e.Do(nil, key, func(context.Context) error { return nil }); !errors.Is(err, ErrNilContext) { //nolint:staticcheck
		t.Errorf("nil ctx: %v", err)
	}
	if _, err := DoValue[int](e, context.Background(), key, nil); !errors.Is(err, ErrNilOp) {
		t.Errorf("nil value op: %v", err)
	}
}

// TestClosed verifies calls after Close, and waits interrupted by Close, fail with ErrClosed.
func TestClosed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEngine(t, withPolicy(fixed(3, time.Hour)))
		op, _ := failN(10, errFlaky)
		done := make(chan error)
		go func() { done <- e.Do(context.Background(), key, op) }()
		synctest.Wait()
		e.Close()
		if err := <-done; !errors.Is(err, ErrClosed) || !errors.Is(err, errFlaky) {
			t.Errorf("in-flight call: %v", err)
		}
		if err := e.Do(context.Background(), key, op); !errors.Is(err, ErrClosed) {
			t.Errorf("call after Close: %v", err)
		}
		e.Close() // idempotent
	})
}

// TestPanicReRaised verifies a panicking op finalizes observers, then panics in the caller.
func TestPanicReRaised(t *testing.T) {
	o := &recObserver{t: t}
	e := newEngine(t, WithObserver(o))
	func() {
		defer func() {
			if r := recover(); r != "boom" {
				t.Errorf("recovered %v, want boom", r)
			}
		}()
		e.Do(context.Background(), key, func(context.Context) error { panic("boom") })
		t.Error("Do returned instead of panicking")
	}()
	if got := strings.Join(o.log(), " "); got != "start attempt:abort failure" {
		t.Errorf("observer saw %q", got)
	}
	if !hasEvent(o.tls[0], observe.EventPanic) {
		t.Errorf("no panic event:\n%v", o.tls[0])
	}
}

// TestAttemptInfo verifies the op sees its attempt index and key in its context.
func TestAttemptInfo(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEngine(t, withPolicy(fixed(3, time.Millisecond)))
		var seen []int
		err := e.Do(context.Background(), key, func(ctx context.Context) error {
			info, ok := observe.AttemptFromContext(ctx)
			if !ok || info.Key != key {
				t.Errorf("AttemptFromContext = %+v, %v", info, ok)
			}
			seen = append(seen, info.Index)
			if len(seen) < 3 {
				return errFlaky
			}
			return nil
		})
		if err != nil || len(seen) != 3 || seen[2] != 2 {
			t.Fatalf("err=%v seen=%v", err, seen)
		}
	})
}

// TestDoValue verifies the value of the succeeding attempt is returned.
func TestDoValue(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEngine(t, withPolicy(fixed(3, time.Millisecond)))
		n := 0
		v, tl, err := DoValueWithTimeline(e, context.Background(), key, func(context.Context) (int, error) {
			n++
			if n < 2 {
				return -1, errFlaky
			}
			return 42, nil
		})
		if v != 42 || err != nil || len(tl.Attempts) != 2 {
			t.Fatalf("v=%d err=%v", v, err)
		}
	})
}

// swapProvider is a provider whose snapshot a test replaces.
type swapProvider struct{ cur *controlplane.Snapshot }

func (p *swapProvider) Current() *controlplane.Snapshot { return p.cur }
func (p *swapProvider) Status() controlplane.Status     { return controlplane.Status{Source: p.cur.Source} }
func (p *swapProvider) Close() error                    { return nil }

// TestPolicySwap verifies a new provider snapshot reaches the next call.
func TestPolicySwap(t *testing.T) {
	set := func(attempts int) *policy.Set {
		s, err := policy.NewSet(map[string]policy.Policy{"*": fixed(attempts, 0)})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	p := &swapProvider{cur: &controlplane.Snapshot{Set: set(1), Version: 1, Source: controlplane.SourceFile}}
	e := newEngine(t, WithProvider(p))
	op, calls := failN(100, errFlaky)
	e.Do(context.Background(), key, op)
	p.cur = &controlplane.Snapshot{Set: set(2), Version: 2, Source: controlplane.SourceFile}
	tl, _ := e.DoWithTimeline(context.Background(), key, op)
	if *calls != 3 || tl.PolicyVersion != 2 {
		t.Fatalf("calls=%d version=%d", *calls, tl.PolicyVersion)
	}
}

// TestSuccessPathAllocs verifies the success path allocates at most once.
func TestSuccessPathAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are meaningless under -race")
	}
	e := newEngine(t, withPolicy(fixed(3, 10*time.Millisecond)))
	ctx := context.Background()
	op := func(context.Context) error { return nil }
	e.Do(ctx, key, op)
	if n := testing.AllocsPerRun(1000, func() { e.Do(ctx, key, op) }); n > 1 {
		t.Errorf("success path: %v allocs per call, want <= 1", n)
	}
	p := fixed(3, 10*time.Millisecond)
	p.Retry.AttemptTimeout = time.Second
	e2 := newEngine(t, withPolicy(p))
	e2.Do(ctx, key, op)
	if n := testing.AllocsPerRun(1000, func() { e2.Do(ctx, key, op) }); n > 1 {
		t.Errorf("success path with attempt timeout: %v allocs per call, want <= 1", n)
	}
}

// TestCallerDeadlineVisible verifies an attempt sees the caller's deadline
// through ctx.Deadline and AttemptInfo, on the fast path too.
func TestCallerDeadlineVisible(t *testing.T) {
	for name, p := range map[string]policy.Policy{"fast path": fixed(2, time.Millisecond), "timeline": fixed(2, time.Millisecond)} {
		e := newEngine(t, withPolicy(p))
		ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
		want, _ := ctx.Deadline()
		op := func(ctx context.Context) error {
			d, ok := ctx.Deadline()
			info, _ := observe.AttemptFromContext(ctx)
			if !ok || !d.Equal(want) || !info.Deadline.Equal(want) {
				t.Errorf("%s: Deadline() = %v, %v; AttemptInfo.Deadline = %v; want %v", name, d, ok, info.Deadline, want)
			}
			return nil
		}
		if name == "fast path" {
			e.Do(ctx, key, op)
		} else {
			e.DoWithTimeline(ctx, key, op)
		}
		cancel()
	}
}

// TestFirstAttemptContext verifies the first attempt's context on the fast
// path (no timeout, no hedging): it carries the attempt, reports the caller's
// deadline, values and cancelation, and a context derived from it is
// canceled with the caller's without a goroutine of its own.
func TestFirstAttemptContext(t *testing.T) {
	e := newEngine(t, withPolicy(fixed(3, time.Millisecond)))
	type vkey struct{}
	deadline := time.Now().Add(time.Hour)
	parent, cancel := context.WithDeadline(context.WithValue(context.Background(), vkey{}, "v"), deadline)
	defer cancel()
	var (
		derived       context.Context
		cancelDerived context.CancelFunc
	)
	err := e.Do(parent, key, func(ctx context.Context) error {
		info, ok := observe.AttemptFromContext(ctx)
		if want := (observe.AttemptInfo{Key: key, Deadline: deadline}); !ok || info != want {
			t.Errorf("AttemptFromContext = %+v, %v; want %+v", info, ok, want)
		}
		if d, ok := ctx.Deadline(); !ok || !d.Equal(deadline) {
			t.Errorf("Deadline = %v, %v", d, ok)
		}
		if ctx.Value(vkey{}) != "v" || ctx.Done() != parent.Done() || ctx.Err() != nil {
			t.Error("the caller's value, Done or Err is not seen through the attempt's context")
		}
		derived, cancelDerived = context.WithCancel(ctx)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	defer cancelDerived()
	cancel()
	// The standard library found the caller's cancelCtx through the attempt's
	// context, so the cancelation reached the derived one synchronously.
	select {
	case <-derived.Done():
	default:
		t.Fatal("a context derived from the attempt's was not canceled with the caller's")
	}
	if derived.Err() != context.Canceled {
		t.Fatalf("derived Err = %v", derived.Err())
	}
}

// TestNestedFirstAttemptDerivesWithoutGoroutines verifies contexts derived
// from a first attempt's context cost no goroutine even when the caller's
// context is not the standard library's: here an outer rego call's attempt
// context (it has an attempt timeout, so it is rego's own type).
func TestNestedFirstAttemptDerivesWithoutGoroutines(t *testing.T) {
	outer := fixed(1, time.Millisecond)
	outer.Retry.AttemptTimeout = time.Hour
	e := newEngine(t, WithProvider(controlplane.NewStatic(map[string]policy.Policy{
		"outer.*": outer, "*": fixed(1, time.Millisecond)})))
	err := e.Do(context.Background(), policy.ParseKey("outer.Call"), func(octx context.Context) error {
		return e.Do(octx, key, func(ctx context.Context) error {
			before := runtime.NumGoroutine()
			cancels := make([]context.CancelFunc, 50)
			for i := range cancels {
				_, cancels[i] = context.WithCancel(ctx)
			}
			after := runtime.NumGoroutine()
			for _, c := range cancels {
				c()
			}
			if after != before {
				t.Errorf("50 derived contexts started %d goroutines, want 0", after-before)
			}
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
}
