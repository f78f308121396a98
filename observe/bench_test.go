package observe_test

import (
	"bytes"
	"context"
	"log/slog"
	"testing"

	"github.com/regoresilience/rego/observe"
)

var (
	sinkInfo observe.AttemptInfo
	sinkOK   bool
	sinkStr  string
)

type benchKey struct{}

// BenchmarkAttemptFromContext measures the lookup an operation does on each
// attempt; BenchmarkBaselineContextValue is a plain ctx.Value of the same
// depth for comparison.
func BenchmarkAttemptFromContext(b *testing.B) {
	bg := context.Background()
	for _, bc := range []struct {
		name string
		ctx  context.Context
	}{
		{"executor_ctx", &attemptCtx{Context: bg, info: info}},
		{"ContextWithAttempt", observe.ContextWithAttempt(bg, info)},
		{"under_2_values", context.WithValue(context.WithValue(&attemptCtx{Context: bg, info: info}, benchKey{}, 1), benchKey{}, 2)},
		{"absent", bg},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				sinkInfo, sinkOK = observe.AttemptFromContext(bc.ctx)
			}
		})
	}
}

func BenchmarkBaselineContextValue(b *testing.B) {
	ctx := context.WithValue(context.Background(), benchKey{}, 1)
	b.ReportAllocs()
	for b.Loop() {
		_, sinkOK = ctx.Value(benchKey{}).(int)
	}
}

func BenchmarkTimelineString(b *testing.B) {
	tl := sampleTimeline()
	b.ReportAllocs()
	for b.Loop() {
		sinkStr = tl.String()
	}
}

// BenchmarkSlogObserverAttempt measures OnAttempt with Debug disabled (the
// production default: one Enabled check) and enabled (a text handler).
func BenchmarkSlogObserverAttempt(b *testing.B) {
	tl := sampleTimeline()
	ctx := context.Background()
	for _, bc := range []struct {
		name  string
		level slog.Level
	}{{"debug_disabled", slog.LevelInfo}, {"debug_enabled", slog.LevelDebug}} {
		b.Run(bc.name, func(b *testing.B) {
			var buf bytes.Buffer
			o := observe.NewSlogObserver(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: bc.level})))
			b.ReportAllocs()
			for b.Loop() {
				o.OnAttempt(ctx, tl.Key, tl.Attempts[0])
				buf.Reset()
			}
		})
	}
}
