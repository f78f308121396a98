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
//	none                no observer: the engine builds no timeline
//	nop-observer        an observer that does nothing (observe.Base): the
//	                    engine's own cost of observing (timeline, callbacks)
//	regootel-noop       regootel on no-op tracer and meter providers
//	regootel-sdk        regootel on the SDK (metrics to a ManualReader), the
//	                    caller's context carrying no span
//	nop-observer-span   nop-observer, each call under a new recording span of
//	                    the SDK (started and ended in the loop)
//	regootel-span       regootel on the SDK, each call under a new recording
//	                    span, which regootel annotates
//
// regootel's own cost is regootel-noop or regootel-sdk minus nop-observer,
// and regootel-span minus nop-observer-span.
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
	nop := func(*testing.B) observe.Observer { return observe.Base{} }
	cases := []struct {
		name string
		obs  func(*testing.B) observe.Observer
		span bool
	}{
		{"none", func(*testing.B) observe.Observer { return nil }, false},
		{"nop-observer", nop, false},
		{"regootel-noop", func(b *testing.B) observe.Observer {
			return mustObserver(b, regootel.WithMeterProvider(metricnoop.NewMeterProvider()),
				regootel.WithTracerProvider(tracenoop.NewTracerProvider()))
		}, false},
		{"regootel-sdk", sdkObs, false},
		{"nop-observer-span", nop, true},
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
			tp := sdktrace.NewTracerProvider()
			defer tp.Shutdown(context.Background())
			tracer := tp.Tracer("bench")
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if !tc.span {
					if err := e.Do(ctx, k, op); err != nil {
						b.Fatal(err)
					}
					continue
				}
				sctx, span := tracer.Start(ctx, "caller")
				if err := e.Do(sctx, k, op); err != nil {
					b.Fatal(err)
				}
				span.End()
			}
		})
	}
}

// BenchmarkObserver measures the callbacks of one successful single-attempt
// call (OnStart, OnAttempt, OnSuccess) without the engine around them, which
// isolates regootel's own cost from the engine's and from much of the
// machine's noise.
func BenchmarkObserver(b *testing.B) {
	start := time.Unix(1e9, 0)
	rec := observe.AttemptRecord{Start: start, End: start.Add(time.Millisecond), Reason: "success"}
	k := policy.Key{Namespace: "svc", Name: "Get"}
	tl := &observe.Timeline{Key: k, Start: start, End: rec.End, Attempts: []observe.AttemptRecord{rec},
		Pattern: "*", PolicySource: "static", PolicyVersion: 1}
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
	defer mp.Shutdown(context.Background())
	cases := []struct {
		name string
		obs  observe.Observer
	}{
		{"nop-observer", observe.Base{}},
		{"regootel-noop", mustObserver(b, regootel.WithMeterProvider(metricnoop.NewMeterProvider()),
			regootel.WithTracerProvider(tracenoop.NewTracerProvider()))},
		{"regootel-sdk", mustObserver(b, regootel.WithMeterProvider(mp))},
	}
	ctx := context.Background()
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				tc.obs.OnStart(ctx, k)
				tc.obs.OnAttempt(ctx, k, rec)
				tc.obs.OnSuccess(ctx, tl)
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

// BenchmarkAttemptHook measures one call whose first attempt succeeds, each
// under a new recording SDK span, without an attempt hook and with
// regootel's (no observer):
//
//	span        no hook: the caller's span only
//	hook-noop   NewAttemptHook on a no-op tracer provider
//	hook-sdk    NewAttemptHook on the SDK: a recorded attempt span per call
//
// The hook's own cost is hook-noop or hook-sdk minus span.
func BenchmarkAttemptHook(b *testing.B) {
	tp := sdktrace.NewTracerProvider()
	defer tp.Shutdown(context.Background())
	cases := []struct {
		name string
		tp   trace.TracerProvider // nil: no hook
	}{
		{"span", nil},
		{"hook-noop", tracenoop.NewTracerProvider()},
		{"hook-sdk", tp},
	}
	p := policy.Policy{Retry: policy.Retry{MaxAttempts: 3, InitialBackoff: 10 * time.Millisecond,
		MaxBackoff: time.Second, Multiplier: 2}}
	k := policy.Key{Namespace: "svc", Name: "Get"}
	op := func(context.Context) error { return nil }
	tracer := tp.Tracer("bench")
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			opts := []engine.Option{engine.WithProvider(controlplane.NewStatic(map[string]policy.Policy{"*": p}))}
			if tc.tp != nil {
				h, err := regootel.NewAttemptHook(regootel.WithTracerProvider(tc.tp))
				if err != nil {
					b.Fatal(err)
				}
				opts = append(opts, engine.WithAttemptHook(h))
			}
			e, err := engine.New(opts...)
			if err != nil {
				b.Fatal(err)
			}
			defer e.Close()
			b.ReportAllocs()
			for b.Loop() {
				ctx, span := tracer.Start(context.Background(), "caller")
				if err := e.Do(ctx, k, op); err != nil {
					b.Fatal(err)
				}
				span.End()
			}
		})
	}
}
