package regootel_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/regoresilience/rego/controlplane"
	"github.com/regoresilience/rego/engine"
	"github.com/regoresilience/rego/integrations/regootel"
	"github.com/regoresilience/rego/observe"
	"github.com/regoresilience/rego/policy"
)

// sdk is an OTel SDK pipeline that keeps everything in memory: ended spans
// in a SpanRecorder, metrics behind a ManualReader.
type sdk struct {
	spans  *tracetest.SpanRecorder
	tp     *sdktrace.TracerProvider
	reader *sdkmetric.ManualReader
	mp     *sdkmetric.MeterProvider
}

func newSDK(t testing.TB) *sdk {
	s := &sdk{spans: tracetest.NewSpanRecorder(), reader: sdkmetric.NewManualReader()}
	s.tp = sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(s.spans))
	s.mp = sdkmetric.NewMeterProvider(sdkmetric.WithReader(s.reader))
	t.Cleanup(func() {
		s.tp.Shutdown(context.Background())
		s.mp.Shutdown(context.Background())
	})
	return s
}

// engine returns an engine with p for every key and regootel on s as its
// observer, closed at the end of the test. Keys get no budgets of their own,
// so only a policy's named budget can refuse.
func (s *sdk) engine(t testing.TB, p policy.Policy, opts ...engine.Option) *engine.Engine {
	t.Helper()
	obs, err := regootel.NewObserver(regootel.WithTracerProvider(s.tp), regootel.WithMeterProvider(s.mp))
	if err != nil {
		t.Fatalf("NewObserver: %v", err)
	}
	opts = append([]engine.Option{
		engine.WithProvider(controlplane.NewStatic(map[string]policy.Policy{"*": p})),
		engine.WithKeyBudgets(nil, nil),
		engine.WithObserver(obs),
	}, opts...)
	e, err := engine.New(opts...)
	if err != nil {
		t.Fatalf("engine.New: %v", err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

// call runs op under a caller span named "caller" and returns that span once
// ended, with the call's timeline and error.
func (s *sdk) call(t testing.TB, e *engine.Engine, key policy.Key, op func(context.Context) error) (sdktrace.ReadOnlySpan, *observe.Timeline, error) {
	t.Helper()
	ctx, span := s.tp.Tracer("test").Start(context.Background(), "caller")
	tl, err := e.DoWithTimeline(ctx, key, op)
	span.End()
	ended := s.spans.Ended()
	if len(ended) == 0 || ended[len(ended)-1].SpanContext().SpanID() != span.SpanContext().SpanID() {
		t.Fatalf("caller span not recorded last: %d spans", len(ended))
	}
	return ended[len(ended)-1], tl, err
}

// attrString renders attributes sorted by key: "k=v k=v".
func attrString(kvs []attribute.KeyValue) string {
	kvs = slices.Clone(kvs)
	slices.SortFunc(kvs, func(a, b attribute.KeyValue) int { return strings.Compare(string(a.Key), string(b.Key)) })
	parts := make([]string, len(kvs))
	for i, kv := range kvs {
		parts[i] = string(kv.Key) + "=" + kv.Value.Emit()
	}
	return strings.Join(parts, " ")
}

// events renders a span's events, one "name: attrs" string each, in order.
func events(span sdktrace.ReadOnlySpan) []string {
	var out []string
	for _, ev := range span.Events() {
		out = append(out, ev.Name+": "+attrString(ev.Attributes))
	}
	return out
}

// metrics collects s's metrics as "name{attrs}" -> value: a counter's sum
// ("3"), a histogram's count and sum ("count=2 sum=0.01").
func (s *sdk) metrics(t testing.TB) map[string]string {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := s.reader.Collect(context.Background(), &rm); err != nil {
		t.Fatalf("Collect: %v", err)
	}
	out := map[string]string{}
	for _, sm := range rm.ScopeMetrics {
		if sm.Scope.Name != regootel.ScopeName {
			t.Errorf("scope %q", sm.Scope.Name)
		}
		for _, m := range sm.Metrics {
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				for _, dp := range d.DataPoints {
					out[m.Name+"{"+attrString(dp.Attributes.ToSlice())+"}"] = fmt.Sprint(dp.Value)
				}
			case metricdata.Histogram[float64]:
				for _, dp := range d.DataPoints {
					out[m.Name+"{"+attrString(dp.Attributes.ToSlice())+"}"] = fmt.Sprintf("count=%d sum=%g", dp.Count, dp.Sum)
				}
			default:
				t.Errorf("metric %s: unexpected data %T", m.Name, m.Data)
			}
		}
	}
	return out
}

// units collects each metric's unit.
func (s *sdk) units(t testing.TB) map[string]string {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := s.reader.Collect(context.Background(), &rm); err != nil {
		t.Fatalf("Collect: %v", err)
	}
	out := map[string]string{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			out[m.Name] = m.Unit
		}
	}
	return out
}

func sec(d interface{ Seconds() float64 }) string { return fmt.Sprint(d.Seconds()) }
