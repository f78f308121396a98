package regootel_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/regoresilience/rego/classify"
	"github.com/regoresilience/rego/engine"
	"github.com/regoresilience/rego/integrations/regootel"
	"github.com/regoresilience/rego/observe"
	"github.com/regoresilience/rego/policy"
)

var (
	errFlaky = errors.New("flaky")
	key      = policy.Key{Namespace: "svc", Name: "Get"}
)

// retry is a policy of n attempts with a fixed backoff and no jitter.
func retry(n int, backoff time.Duration) policy.Policy {
	return policy.Policy{Retry: policy.Retry{MaxAttempts: n, InitialBackoff: backoff,
		MaxBackoff: backoff, Multiplier: 1, Jitter: policy.JitterNone}}
}

// wait blocks for d or until ctx ends, as a well-behaved op does.
func wait(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func checkLines(t *testing.T, what string, got, want []string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Errorf("%s:\ngot:\n  %s\nwant:\n  %s", what, strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}

func checkMetrics(t *testing.T, got, want map[string]string) {
	t.Helper()
	if !maps.Equal(got, want) {
		lines := func(m map[string]string) []string {
			var out []string
			for k, v := range m {
				out = append(out, k+" = "+v)
			}
			slices.Sort(out)
			return out
		}
		t.Errorf("metrics:\ngot:\n  %s\nwant:\n  %s", strings.Join(lines(got), "\n  "), strings.Join(lines(want), "\n  "))
	}
}

// TestRetriedCall verifies the span events, span attributes and metrics of
// a call that fails twice and succeeds on its third attempt.
func TestRetriedCall(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newSDK(t)
		e := s.engine(t, retry(3, 10*time.Millisecond))
		n := 0
		span, tl, err := s.call(t, e, key, func(context.Context) error {
			if n++; n < 3 {
				return errFlaky
			}
			return nil
		})
		if err != nil || len(tl.Attempts) != 3 {
			t.Fatalf("err=%v\n%v", err, tl)
		}
		checkLines(t, "span events", events(span), []string{
			"rego.attempt: error.message=flaky rego.attempt.backoff=0 rego.attempt.duration=0 rego.attempt.index=0 rego.hedge=false rego.key=svc.Get rego.outcome=retryable rego.reason=error",
			"rego.attempt: error.message=flaky rego.attempt.backoff=0.01 rego.attempt.duration=0 rego.attempt.index=1 rego.hedge=false rego.key=svc.Get rego.outcome=retryable rego.reason=error",
			"rego.attempt: rego.attempt.backoff=0.01 rego.attempt.duration=0 rego.attempt.index=2 rego.hedge=false rego.key=svc.Get rego.outcome=success rego.reason=success",
		})
		for i, ev := range span.Events() {
			if !ev.Time.Equal(tl.Attempts[i].End) {
				t.Errorf("event %d at %v, want the attempt's end %v", i, ev.Time, tl.Attempts[i].End)
			}
		}
		checkLines(t, "span attributes", []string{attrString(span.Attributes())}, []string{
			"rego.attempts=3 rego.call.duration=" + sec(tl.Duration()) + " rego.hedges=0 rego.key=svc.Get rego.outcome=success " +
				"rego.policy=* rego.policy.source=static rego.policy.version=1 rego.reason=success",
		})
		checkMetrics(t, s.metrics(t), map[string]string{
			"rego.attempts{rego.hedge=false rego.key=svc.Get rego.outcome=retryable rego.reason=error}":         "2",
			"rego.attempts{rego.hedge=false rego.key=svc.Get rego.outcome=success rego.reason=success}":         "1",
			"rego.attempt.duration{rego.hedge=false rego.key=svc.Get rego.outcome=retryable rego.reason=error}": "count=2 sum=0",
			"rego.attempt.duration{rego.hedge=false rego.key=svc.Get rego.outcome=success rego.reason=success}": "count=1 sum=0",
			"rego.calls{rego.key=svc.Get rego.outcome=success rego.reason=success}":                             "1",
			"rego.call.duration{rego.key=svc.Get rego.outcome=success rego.reason=success}":                     "count=1 sum=" + sec(tl.Duration()),
		})
		if tl.Duration() < 20*time.Millisecond {
			t.Errorf("call took %v, want at least the two backoffs", tl.Duration())
		}
	})
}

// TestHedgedCall verifies a call whose primary stalls and whose hedge wins:
// the loser is reported as cancelled, the hedge as fired and won.
func TestHedgedCall(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newSDK(t)
		p := retry(1, time.Millisecond)
		p.Hedge = policy.Hedge{MaxHedges: 1, Delay: 50 * time.Millisecond}
		e := s.engine(t, p)
		span, tl, err := s.call(t, e, key, func(ctx context.Context) error {
			info, _ := observe.AttemptFromContext(ctx)
			if info.Hedge {
				return wait(ctx, 10*time.Millisecond)
			}
			return wait(ctx, time.Hour)
		})
		if err != nil || len(tl.Attempts) != 2 || !tl.Attempts[1].Hedge {
			t.Fatalf("err=%v\n%v", err, tl)
		}
		primary, hedge := sec(tl.Attempts[0].Duration()), sec(tl.Attempts[1].Duration())
		if hedge != "0.01" {
			t.Errorf("hedge took %s s, want 0.01", hedge)
		}
		// Attempts of a hedged round reach the observer as they end, in no
		// promised order (each carries its index), so compare them sorted;
		// the hedge_fired event comes with the timeline's events at the end.
		got := events(span)
		if len(got) == 3 {
			slices.Sort(got[:2])
		}
		checkLines(t, "span events", got, []string{
			"rego.attempt: error.message=context canceled rego.attempt.backoff=0 rego.attempt.canceled=true rego.attempt.duration=" + primary +
				" rego.attempt.index=0 rego.hedge=false rego.key=svc.Get rego.outcome=abort rego.reason=hedge_lost",
			"rego.attempt: rego.attempt.backoff=0 rego.attempt.duration=0.01 rego.attempt.index=1 rego.hedge=true rego.key=svc.Get rego.outcome=success rego.reason=success",
			"rego.hedge_fired: rego.attempt.index=1 rego.key=svc.Get",
		})
		if evs := span.Events(); len(evs) == 3 && !evs[2].Time.Equal(tl.Attempts[1].Start) {
			t.Errorf("hedge_fired at %v, want the hedge's start %v", evs[2].Time, tl.Attempts[1].Start)
		}
		checkLines(t, "span attributes", []string{attrString(span.Attributes())}, []string{
			"rego.attempts=2 rego.call.duration=" + sec(tl.Duration()) + " rego.hedges=1 rego.key=svc.Get rego.outcome=success " +
				"rego.policy=* rego.policy.source=static rego.policy.version=1 rego.reason=success",
		})
		checkMetrics(t, s.metrics(t), map[string]string{
			"rego.attempts{rego.hedge=true rego.key=svc.Get rego.outcome=success rego.reason=success}":           "1",
			"rego.attempts{rego.hedge=false rego.key=svc.Get rego.outcome=abort rego.reason=hedge_lost}":         "1",
			"rego.attempt.duration{rego.hedge=true rego.key=svc.Get rego.outcome=success rego.reason=success}":   "count=1 sum=0.01",
			"rego.attempt.duration{rego.hedge=false rego.key=svc.Get rego.outcome=abort rego.reason=hedge_lost}": "count=1 sum=" + primary,
			"rego.calls{rego.key=svc.Get rego.outcome=success rego.reason=success}":                              "1",
			"rego.call.duration{rego.key=svc.Get rego.outcome=success rego.reason=success}":                      "count=1 sum=" + sec(tl.Duration()),
			"rego.hedges.fired{rego.key=svc.Get}":                                                                "1",
			"rego.hedges.won{rego.key=svc.Get}":                                                                  "1",
		})
	})
}

// denyAll is a budget that refuses every retry.
type denyAll struct{}

func (denyAll) TryAcquire() bool  { return false }
func (denyAll) Release()          {}
func (denyAll) Record(bool, bool) {}

// TestBudgetDenial verifies a call whose retry a budget refuses: one
// attempt, a budget_denied event, a failed call whose reason is "budget".
func TestBudgetDenial(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newSDK(t)
		p := retry(3, 10*time.Millisecond)
		p.RetryBudget = "deny"
		e := s.engine(t, p, engine.WithBudget("deny", denyAll{}))
		span, tl, err := s.call(t, e, key, func(context.Context) error { return errFlaky })
		var re *engine.Error
		if !errors.As(err, &re) || re.Reason != engine.StopBudget || len(tl.Attempts) != 1 {
			t.Fatalf("err=%v\n%v", err, tl)
		}
		checkLines(t, "span events", events(span), []string{
			"rego.attempt: error.message=flaky rego.attempt.backoff=0 rego.attempt.duration=0 rego.attempt.index=0 rego.hedge=false rego.key=svc.Get rego.outcome=retryable rego.reason=error",
			"rego.budget_denied: rego.attempt.index=1 rego.event.detail=" + tl.Events[0].Detail + " rego.event.name=deny rego.key=svc.Get",
		})
		checkLines(t, "span attributes", []string{attrString(span.Attributes())}, []string{
			"rego.attempts=1 rego.call.duration=0 rego.hedges=0 rego.key=svc.Get rego.outcome=failure " +
				"rego.policy=* rego.policy.source=static rego.policy.version=1 rego.reason=budget",
		})
		checkMetrics(t, s.metrics(t), map[string]string{
			"rego.attempts{rego.hedge=false rego.key=svc.Get rego.outcome=retryable rego.reason=error}":         "1",
			"rego.attempt.duration{rego.hedge=false rego.key=svc.Get rego.outcome=retryable rego.reason=error}": "count=1 sum=0",
			"rego.calls{rego.key=svc.Get rego.outcome=failure rego.reason=budget}":                              "1",
			"rego.call.duration{rego.key=svc.Get rego.outcome=failure rego.reason=budget}":                      "count=1 sum=0",
			"rego.budget.denials{rego.budget=deny rego.key=svc.Get}":                                            "1",
		})
	})
}

// TestUnits verifies every instrument's unit: seconds for durations, a
// curly-brace annotation for counts.
func TestUnits(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newSDK(t)
		p := retry(2, 0)
		p.Hedge = policy.Hedge{MaxHedges: 1, Delay: time.Millisecond}
		p.RetryBudget = "deny"
		e := s.engine(t, p, engine.WithBudget("deny", denyAll{}))
		s.call(t, e, key, func(ctx context.Context) error {
			if info, _ := observe.AttemptFromContext(ctx); info.Hedge {
				return nil
			}
			return wait(ctx, time.Hour)
		})
		s.call(t, e, key, func(ctx context.Context) error { return errFlaky })
		got := s.units(t)
		want := map[string]string{
			"rego.call.duration": "s", "rego.attempt.duration": "s",
			"rego.calls": "{call}", "rego.attempts": "{attempt}",
			"rego.hedges.fired": "{hedge}", "rego.hedges.won": "{hedge}",
			"rego.budget.denials": "{denial}",
		}
		if !maps.Equal(got, want) {
			t.Errorf("units %v, want %v", got, want)
		}
	})
}

// TestNoSpan verifies that a caller without a span still gets metrics.
func TestNoSpan(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newSDK(t)
		e := s.engine(t, retry(1, 0))
		if err := e.Do(context.Background(), key, func(context.Context) error { return nil }); err != nil {
			t.Fatal(err)
		}
		if got := s.metrics(t)["rego.calls{rego.key=svc.Get rego.outcome=success rego.reason=success}"]; got != "1" {
			t.Errorf("rego.calls = %q, want 1", got)
		}
		if n := len(s.spans.Ended()); n != 0 {
			t.Errorf("%d spans, want none", n)
		}
	})
}

// TestNilProvider verifies a nil provider is an error, not a later panic.
func TestNilProvider(t *testing.T) {
	for _, opt := range []regootel.Option{regootel.WithTracerProvider(nil), regootel.WithMeterProvider(nil)} {
		if _, err := regootel.NewObserver(opt); !errors.Is(err, regootel.ErrNilProvider) {
			t.Errorf("err = %v, want ErrNilProvider", err)
		}
	}
	if obs, err := regootel.NewObserver(); err != nil || obs == nil {
		t.Errorf("defaults: %v, %v", obs, err)
	}
}

// TestConcurrentCalls verifies counts add up when many calls, on several
// keys, report at once (run with -race: one observer serves them all).
func TestConcurrentCalls(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newSDK(t)
		e := s.engine(t, retry(2, time.Millisecond))
		const workers, calls = 8, 50
		// Half the calls retry once after 1ms and the others take no time:
		// each key's call durations add up to 100 backoffs.
		sum := 0.0
		for range 100 {
			sum += time.Millisecond.Seconds()
		}
		callDur := fmt.Sprintf("count=200 sum=%g", sum)
		done := make(chan struct{})
		for w := range workers {
			go func() {
				defer func() { done <- struct{}{} }()
				k := policy.Key{Namespace: "svc", Name: []string{"A", "B"}[w%2]}
				for i := range calls {
					failed := false
					op := func(context.Context) error {
						if i%2 == 0 && !failed {
							failed = true
							return errFlaky
						}
						return nil
					}
					if err := e.Do(context.Background(), k, op); err != nil {
						t.Error(err)
					}
				}
			}()
		}
		for range workers {
			<-done
		}
		checkMetrics(t, s.metrics(t), map[string]string{
			"rego.attempts{rego.hedge=false rego.key=svc.A rego.outcome=retryable rego.reason=error}":         "100",
			"rego.attempts{rego.hedge=false rego.key=svc.A rego.outcome=success rego.reason=success}":         "200",
			"rego.attempts{rego.hedge=false rego.key=svc.B rego.outcome=retryable rego.reason=error}":         "100",
			"rego.attempts{rego.hedge=false rego.key=svc.B rego.outcome=success rego.reason=success}":         "200",
			"rego.attempt.duration{rego.hedge=false rego.key=svc.A rego.outcome=retryable rego.reason=error}": "count=100 sum=0",
			"rego.attempt.duration{rego.hedge=false rego.key=svc.A rego.outcome=success rego.reason=success}": "count=200 sum=0",
			"rego.attempt.duration{rego.hedge=false rego.key=svc.B rego.outcome=retryable rego.reason=error}": "count=100 sum=0",
			"rego.attempt.duration{rego.hedge=false rego.key=svc.B rego.outcome=success rego.reason=success}": "count=200 sum=0",
			"rego.calls{rego.key=svc.A rego.outcome=success rego.reason=success}":                             "200",
			"rego.calls{rego.key=svc.B rego.outcome=success rego.reason=success}":                             "200",
			"rego.call.duration{rego.key=svc.A rego.outcome=success rego.reason=success}":                     callDur,
			"rego.call.duration{rego.key=svc.B rego.outcome=success rego.reason=success}":                     callDur,
		})
	})
}

// TestDroppedInstruments verifies that instruments a view drops are skipped
// (regootel asks Enabled first) while the others still record.
func TestDroppedInstruments(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newSDK(t)
		drop := func(name string) sdkmetric.View {
			return sdkmetric.NewView(sdkmetric.Instrument{Name: name}, sdkmetric.Stream{Aggregation: sdkmetric.AggregationDrop{}})
		}
		s.reader = sdkmetric.NewManualReader()
		s.mp = sdkmetric.NewMeterProvider(sdkmetric.WithReader(s.reader), sdkmetric.WithView(drop("rego.attempts"), drop("rego.calls")))
		t.Cleanup(func() { s.mp.Shutdown(context.Background()) })
		e := s.engine(t, retry(1, 0))
		if err := e.Do(context.Background(), key, func(context.Context) error { return nil }); err != nil {
			t.Fatal(err)
		}
		checkMetrics(t, s.metrics(t), map[string]string{
			"rego.attempt.duration{rego.hedge=false rego.key=svc.Get rego.outcome=success rego.reason=success}": "count=1 sum=0",
			"rego.call.duration{rego.key=svc.Get rego.outcome=success rego.reason=success}":                     "count=1 sum=0",
		})
	})
}

// TestOverflowKey verifies that calls the engine sent to its overflow
// worker (keys past WithMaxKeys) share one rego.key in the metrics, while
// the caller's span keeps the call's own key.
func TestOverflowKey(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newSDK(t)
		e := s.engine(t, retry(1, 0), engine.WithMaxKeys(1), engine.WithLogger(slog.New(slog.DiscardHandler)))
		ok := func(context.Context) error { return nil }
		for _, name := range []string{"A", "B", "C"} {
			span, _, err := s.call(t, e, policy.Key{Namespace: "svc", Name: name}, ok)
			if err != nil {
				t.Fatal(err)
			}
			if got := attrString(span.Attributes()); !strings.Contains(got, "rego.key=svc."+name) {
				t.Errorf("span attributes %s, want key svc.%s", got, name)
			}
		}
		checkMetrics(t, s.metrics(t), map[string]string{
			"rego.attempts{rego.hedge=false rego.key=svc.A rego.outcome=success rego.reason=success}":                 "1",
			"rego.attempts{rego.hedge=false rego.key=rego.overflow rego.outcome=success rego.reason=success}":         "2",
			"rego.attempt.duration{rego.hedge=false rego.key=svc.A rego.outcome=success rego.reason=success}":         "count=1 sum=0",
			"rego.attempt.duration{rego.hedge=false rego.key=rego.overflow rego.outcome=success rego.reason=success}": "count=2 sum=0",
			"rego.calls{rego.key=svc.A rego.outcome=success rego.reason=success}":                                     "1",
			"rego.calls{rego.key=rego.overflow rego.outcome=success rego.reason=success}":                             "2",
			"rego.call.duration{rego.key=svc.A rego.outcome=success rego.reason=success}":                             "count=1 sum=0",
			"rego.call.duration{rego.key=rego.overflow rego.outcome=success rego.reason=success}":                     "count=2 sum=0",
		})
	})
}

// TestPushbackAndDeadlineSkip verifies the span events of a call that the
// server asks to wait and whose last retry would end past the deadline.
func TestPushbackAndDeadlineSkip(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newSDK(t)
		p := retry(3, 5*time.Millisecond)
		p.Timeout = 8 * time.Millisecond
		e := s.engine(t, p)
		n := 0
		span, tl, err := s.call(t, e, key, func(context.Context) error {
			if n++; n == 1 {
				return classify.RetryAfter(errFlaky, 6*time.Millisecond)
			}
			return errFlaky
		})
		var re *engine.Error
		if !errors.As(err, &re) || re.Reason != engine.StopDeadline || len(tl.Attempts) != 2 {
			t.Fatalf("err=%v\n%v", err, tl)
		}
		checkLines(t, "span events", events(span), []string{
			"rego.attempt: error.message=flaky rego.attempt.backoff=0 rego.attempt.duration=0 rego.attempt.index=0 rego.hedge=false rego.key=svc.Get rego.outcome=retryable rego.reason=retry_after",
			"rego.attempt: error.message=flaky rego.attempt.backoff=0.006 rego.attempt.duration=0 rego.attempt.index=1 rego.hedge=false rego.key=svc.Get rego.outcome=retryable rego.reason=error",
			"rego.pushback: rego.attempt.index=0 rego.event.duration=0.006 rego.key=svc.Get",
			"rego.deadline_skip: rego.attempt.index=2 rego.event.detail=" + tl.Events[1].Detail + " rego.event.duration=0.005 rego.key=svc.Get",
		})
		checkLines(t, "span attributes", []string{attrString(span.Attributes())}, []string{
			"rego.attempts=2 rego.call.duration=" + sec(tl.Duration()) + " rego.hedges=0 rego.key=svc.Get rego.outcome=failure " +
				"rego.policy=* rego.policy.source=static rego.policy.version=1 rego.reason=deadline",
		})
	})
}
