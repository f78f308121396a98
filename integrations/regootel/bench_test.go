package regootel_test

import (
	"context"
	"testing"
	"time"

	metricnoop "go.opentelemetry.io/otel/metric/noop"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/regoresilience/rego/controlplane"
	"github.com/regoresilience/rego/engine"
	"github.com/regoresilience/rego/integrations/regootel"
	"github.com/regoresilience/rego/observe"
	"github.com/regoresilience/rego/policy"
)

// BenchmarkCall measures one call whose first attempt succeeds (the path
// nearly every call takes) under each observer setup:
//
//	none            no observer: the engine builds no timeline
//	nop-observer    an observer that does nothing (observe.Base): the
//	                engine's own cost of observing (timeline, callbacks)
//	regootel-noop   regootel on no-op tracer and meter providers
//	regootel-sdk    regootel on the SDK (metrics to a ManualReader), the
//	                caller's context carrying no span
//	regootel-span   the same, and the caller's span is recording
//
// regootel's own cost is each regootel case minus nop-observer.
func BenchmarkCall(b *testing.B) {
	sdkObs := func(b *testing.B) observe.Observer {
		mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
		tp := sdktrace.NewTracerProvider()
		b.Cleanup(func() {
			mp.Shutdown(context.Background())
			tp.Shutdown(context.Background())
		})
		return mustObserver(b, regootel.WithMeterProvider(mp), regootel.WithTracerProvider(tp))
	}
	cases := []struct {
		name string
		obs  func(*testing.B) observe.Observer
		span bool
	}{
		{"none", func(*testing.B) observe.Observer { return nil }, false},
		{"nop-observer", func(*testing.B) observe.Observer { return observe.Base{} }, false},
		{"regootel-noop", func(b *testing.B) observe.Observer {
			return mustObserver(b, regootel.WithMeterProvider(metricnoop.NewMeterProvider()),
				regootel.WithTracerProvider(tracenoop.NewTracerProvider()))
		}, false},
		{"regootel-sdk", sdkObs, false},
		{"regootel-span", sdkObs, true},
	}
	p := policy.Policy{Retry: policy.Retry{MaxAttempts: 3, InitialBackoff: 10 * time.Millisecond,
		MaxBackoff: time.Second, Multiplier: 2}}
	k := policy.Key{Namespace: "svc", Name: "Get"}
	op := func(context.Context) error { return nil }
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			opts := []engine.Option{engine.WithProvider(controlplane.NewStatic(map[string]policy.Policy{"*": p}))}
			if o := tc.obs(b); o != nil {
				opts = append(opts, engine.WithObserver(o))
			}
			e, err := engine.New(opts...)
			if err != nil {
				b.Fatal(err)
			}
			defer e.Close()
			ctx := context.Background()
			if tc.span {
				// One long-lived span: the SDK keeps its last 128 events and
				// drops older ones, so the benchmark measures annotating a
				// span, not the span's growth.
				tp := sdktrace.NewTracerProvider()
				defer tp.Shutdown(context.Background())
				var span interface{ End(...trace.SpanEndOption) }
				ctx, span = tp.Tracer("bench").Start(ctx, "caller")
				defer span.End()
			}
			b.ReportAllocs()
			for b.Loop() {
				if err := e.Do(ctx, k, op); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func mustObserver(b *testing.B, opts ...regootel.Option) observe.Observer {
	o, err := regootel.NewObserver(opts...)
	if err != nil {
		b.Fatal(err)
	}
	return o
}
