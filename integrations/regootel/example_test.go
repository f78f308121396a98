package regootel_test

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/regoresilience/rego"
	"github.com/regoresilience/rego/engine"
	"github.com/regoresilience/rego/integrations/regootel"
)

// getUserWithRego is how a service wires regootel: once, at start-up, on
// the tracer and meter providers it installed globally.
func getUserWithRego(ctx context.Context, getUser func(context.Context) error) error {
	obs, err := regootel.NewObserver() // the global tracer and meter providers
	if err != nil {
		return err
	}
	exec, err := rego.NewExecutor(engine.WithObserver(obs))
	if err != nil {
		return err
	}
	defer exec.Close()
	return exec.Do(ctx, rego.ParseKey("user-service.GetUser"), getUser)
}

// ExampleNewObserver installs regootel on an executor and shows the metrics
// one call records. The SDK keeps them in memory here; a service exports
// them (OTLP, Prometheus) instead.
func ExampleNewObserver() {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer mp.Shutdown(context.Background())
	otel.SetMeterProvider(mp)

	ctx := context.Background()
	if err := getUserWithRego(ctx, func(context.Context) error { return nil }); err != nil {
		fmt.Println(err)
	}

	var rm metricdata.ResourceMetrics
	if err := reader.Collect(ctx, &rm); err != nil {
		fmt.Println(err)
	}
	var lines []string
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			line := m.Name + " [" + m.Unit + "]"
			if sum, ok := m.Data.(metricdata.Sum[int64]); ok {
				for _, dp := range sum.DataPoints {
					line += fmt.Sprintf(" %s = %d", dp.Attributes.Encoded(attribute.DefaultEncoder()), dp.Value)
				}
			}
			lines = append(lines, line)
		}
	}
	slices.Sort(lines)
	for _, l := range lines {
		fmt.Println(l)
	}
	// Output:
	// rego.attempt.duration [s]
	// rego.attempts [{attempt}] rego.hedge=false,rego.key=user-service.GetUser,rego.outcome=success,rego.reason=success = 1
	// rego.call.duration [s]
	// rego.calls [{call}] rego.key=user-service.GetUser,rego.outcome=success,rego.reason=success = 1
}

// ExampleNewObserver_span shows what a call adds to the caller's span: an
// event per attempt and the call's result as attributes.
func ExampleNewObserver_span() {
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	defer tp.Shutdown(context.Background())

	obs, err := regootel.NewObserver(regootel.WithTracerProvider(tp))
	if err != nil {
		fmt.Println(err)
		return
	}
	exec, err := rego.NewExecutor(engine.WithObserver(obs))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer exec.Close()

	ctx, span := tp.Tracer("example").Start(context.Background(), "handle request")
	err = exec.Do(ctx, rego.ParseKey("user-service.GetUser"), func(ctx context.Context) error {
		return nil // the client call; its own span (otelhttp, otelgrpc) nests under "handle request"
	})
	span.End()
	if err != nil {
		fmt.Println(err)
	}

	s := spans.Ended()[0]
	for _, ev := range s.Events() {
		fmt.Println("event", ev.Name)
	}
	for _, kv := range s.Attributes() {
		if kv.Key == "rego.outcome" || kv.Key == "rego.attempts" {
			fmt.Println(kv.Key, kv.Value.Emit())
		}
	}
	// Output:
	// event rego.attempt
	// rego.outcome success
	// rego.attempts 1
}

// getUserWithAttemptSpans adds a span per attempt to getUserWithRego's
// wiring: the client spans getUser starts nest under the attempt that
// made them.
func getUserWithAttemptSpans(ctx context.Context, getUser func(context.Context) error) error {
	obs, err := regootel.NewObserver()
	if err != nil {
		return err
	}
	hook, err := regootel.NewAttemptHook() // a "rego.attempt" span per attempt, global tracer provider
	if err != nil {
		return err
	}
	exec, err := rego.NewExecutor(engine.WithObserver(obs), engine.WithAttemptHook(hook))
	if err != nil {
		return err
	}
	defer exec.Close()
	return exec.Do(ctx, rego.ParseKey("user-service.GetUser"), getUser)
}

// ExampleNewAttemptHook shows the spans of a call retried once: an attempt
// span per attempt under the caller's span, and under each the client span
// the operation started (as otelhttp or otelgrpc would).
func ExampleNewAttemptHook() {
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	defer tp.Shutdown(context.Background())
	otel.SetTracerProvider(tp)

	ctx, span := tp.Tracer("example").Start(context.Background(), "handle request")
	calls := 0
	err := getUserWithAttemptSpans(ctx, func(ctx context.Context) error {
		_, client := tp.Tracer("example").Start(ctx, "GET /users/42")
		defer client.End()
		if calls++; calls == 1 {
			return errors.New("connection reset")
		}
		return nil
	})
	span.End()
	if err != nil {
		fmt.Println(err)
	}

	names := map[trace.SpanID]string{}
	for _, s := range spans.Ended() {
		names[s.SpanContext().SpanID()] = s.Name()
	}
	for _, s := range spans.Ended() {
		if s.Name() != "GET /users/42" {
			continue
		}
		for _, p := range spans.Ended() {
			if p.SpanContext().SpanID() != s.Parent().SpanID() {
				continue
			}
			for _, kv := range p.Attributes() {
				if kv.Key == "rego.outcome" {
					fmt.Printf("%s > %s (%s) > %s\n", names[p.Parent().SpanID()], p.Name(), kv.Value.Emit(), s.Name())
				}
			}
		}
	}
	// Output:
	// handle request > rego.attempt (retryable) > GET /users/42
	// handle request > rego.attempt (success) > GET /users/42
}
