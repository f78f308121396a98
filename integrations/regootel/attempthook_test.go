package regootel_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/regoresilience/rego/engine"
	"github.com/regoresilience/rego/integrations/regootel"
	"github.com/regoresilience/rego/observe"
	"github.com/regoresilience/rego/policy"
)

// hook returns regootel's attempt hook on s's tracer provider, as an engine
// option.
func (s *sdk) hook(t testing.TB) engine.Option {
	t.Helper()
	h, err := regootel.NewAttemptHook(regootel.WithTracerProvider(s.tp))
	if err != nil {
		t.Fatalf("NewAttemptHook: %v", err)
	}
	return engine.WithAttemptHook(h)
}

// clientOp is an op that starts a "client" span in its context, as otelhttp
// and otelgrpc do, around work that takes lat[attempt index] and then
// returns errs[attempt index].
func (s *sdk) clientOp(lat []time.Duration, errs []error) func(context.Context) error {
	return func(ctx context.Context) error {
		info, _ := observe.AttemptFromContext(ctx)
		ctx, span := s.tp.Tracer("client").Start(ctx, "client", trace.WithSpanKind(trace.SpanKindClient))
		defer span.End()
		if err := wait(ctx, lat[info.Index]); err != nil {
			return err
		}
		return errs[info.Index]
	}
}

// tree renders the ended spans under root as "parent > name: attrs status",
// attempt spans and their children in attempt index order.
func tree(spans []sdktrace.ReadOnlySpan, root trace.SpanID) []string {
	name := map[trace.SpanID]string{root: "caller"}
	var attempts []sdktrace.ReadOnlySpan
	for _, s := range spans {
		if s.Name() == regootel.SpanAttempt {
			attempts = append(attempts, s)
		}
	}
	var out []string
	for i := range len(attempts) {
		for _, s := range attempts {
			if idx, _ := attr(s.Attributes(), "rego.attempt.index"); idx.AsInt64() != int64(i) {
				continue
			}
			name[s.SpanContext().SpanID()] = fmt.Sprint("attempt", i)
			out = append(out, fmt.Sprintf("%s > %s: %s status=%s", name[s.Parent().SpanID()], s.Name(),
				attrString(s.Attributes()), s.Status().Code))
			for _, c := range spans {
				if c.Parent().SpanID() == s.SpanContext().SpanID() {
					out = append(out, fmt.Sprintf("attempt%d > %s", i, c.Name()))
				}
			}
		}
	}
	return out
}

func attr(kvs []attribute.KeyValue, k attribute.Key) (attribute.Value, bool) {
	for _, kv := range kvs {
		if kv.Key == k {
			return kv.Value, true
		}
	}
	return attribute.Value{}, false
}

// TestAttemptSpansRetried verifies that each attempt of a retried call gets
// a span under the caller's, with the attempt's verdict, and that the
// client span the op starts nests under its attempt's span.
func TestAttemptSpansRetried(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newSDK(t)
		e := s.engine(t, retry(3, 10*time.Millisecond), s.hook(t))
		op := s.clientOp([]time.Duration{time.Millisecond, time.Millisecond}, []error{errFlaky, nil})
		caller, _, err := s.call(t, e, key, op)
		if err != nil {
			t.Fatal(err)
		}
		checkLines(t, "spans", tree(s.spans.Ended(), caller.SpanContext().SpanID()), []string{
			"caller > rego.attempt: rego.attempt.index=0 rego.hedge=false rego.key=svc.Get rego.outcome=retryable rego.reason=error status=Error",
			"attempt0 > client",
			"caller > rego.attempt: rego.attempt.index=1 rego.hedge=false rego.key=svc.Get rego.outcome=success rego.reason=success status=Unset",
			"attempt1 > client",
		})
		for _, sp := range s.spans.Ended() {
			if sp.Name() == regootel.SpanAttempt && sp.Status().Code.String() == "Error" && sp.Status().Description != "flaky" {
				t.Errorf("status description %q, want the error", sp.Status().Description)
			}
		}
	})
}

// TestAttemptSpansHedged verifies that both attempts of a hedged round get
// a span, and that the loser's, which rego cancelled, ends too (when its op
// returns, after the call) as cancelled, without an error status.
func TestAttemptSpansHedged(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newSDK(t)
		p := retry(1, time.Millisecond)
		p.Hedge = policy.Hedge{MaxHedges: 1, Delay: 50 * time.Millisecond}
		e := s.engine(t, p, s.hook(t))
		op := s.clientOp([]time.Duration{80 * time.Millisecond, time.Hour}, []error{nil, nil})
		caller, _, err := s.call(t, e, key, op)
		if err != nil {
			t.Fatal(err)
		}
		synctest.Wait() // the losing hedge's goroutine has ended its spans
		checkLines(t, "spans", tree(s.spans.Ended(), caller.SpanContext().SpanID()), []string{
			"caller > rego.attempt: rego.attempt.index=0 rego.hedge=false rego.key=svc.Get rego.outcome=success rego.reason=success status=Unset",
			"attempt0 > client",
			"caller > rego.attempt: rego.attempt.canceled=true rego.attempt.index=1 rego.hedge=true rego.key=svc.Get rego.outcome=abort rego.reason=hedge_lost status=Unset",
			"attempt1 > client",
		})
	})
}

// TestAttemptSpansPanic verifies that an attempt that panics ends its span
// with an error status, and the panic goes on.
func TestAttemptSpansPanic(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newSDK(t)
		e := s.engine(t, retry(2, time.Millisecond), s.hook(t))
		func() {
			defer func() {
				if r := recover(); r != "boom" {
					t.Errorf("recovered %v", r)
				}
			}()
			e.Do(context.Background(), key, func(context.Context) error { panic("boom") })
		}()
		ended := s.spans.Ended()
		if len(ended) != 1 || ended[0].Name() != regootel.SpanAttempt || ended[0].Status().Code.String() != "Error" ||
			ended[0].Status().Description != "panic" {
			t.Fatalf("spans %v", ended)
		}
	})
}

func TestNewAttemptHookNilProvider(t *testing.T) {
	if _, err := regootel.NewAttemptHook(regootel.WithTracerProvider(nil)); !errors.Is(err, regootel.ErrNilProvider) {
		t.Errorf("err = %v, want ErrNilProvider", err)
	}
}
