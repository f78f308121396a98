package regootel

import (
	"context"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/regoresilience/rego/classify"
	"github.com/regoresilience/rego/engine"
	"github.com/regoresilience/rego/observe"
)

// SpanAttempt is the name of the span NewAttemptHook starts for each
// attempt.
const SpanAttempt = "rego.attempt"

// NewAttemptHook returns an engine.AttemptHook that starts a span per
// attempt (see the package documentation), a child of the span in the
// caller's context, and puts it in the context the operation receives: the
// client spans the operation starts (otelhttp, otelgrpc) nest under the
// attempt that made them. Install it with engine.WithAttemptHook, beside
// NewObserver's observer or without it. Its spans come from
// WithTracerProvider's provider (default: otel.GetTracerProvider() when
// NewAttemptHook runs); it ignores WithMeterProvider.
//
// The error is a bad option.
func NewAttemptHook(opts ...Option) (engine.AttemptHook, error) {
	c, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	if c.tp == nil {
		c.tp = otel.GetTracerProvider()
	}
	return &attemptHook{tracer: c.tp.Tracer(ScopeName)}, nil
}

// attemptHook is immutable: its calls for different attempts may run at
// once (hedges).
type attemptHook struct {
	tracer trace.Tracer
}

// StartAttempt starts the attempt's span under the caller's (ctx finds it:
// the attempt's context descends from the caller's) and returns the
// attempt's context with the span in it.
func (h *attemptHook) StartAttempt(ctx context.Context, info observe.AttemptInfo) context.Context {
	ctx, span := h.tracer.Start(ctx, SpanAttempt) // SpanKindInternal, the default: no option to allocate
	if span.IsRecording() {
		span.SetAttributes(keyKey.String(info.Key.String()), keyIndex.Int(info.Index), keyHedge.Bool(info.Hedge))
	}
	return ctx
}

// EndAttempt ends the span StartAttempt put in ctx, with the attempt's
// verdict as attributes and an error status for an attempt that failed on
// its own or panicked. A hedge loser rego cancelled did not fail: it keeps
// an unset status and says rego.attempt.canceled.
func (h *attemptHook) EndAttempt(ctx context.Context, end engine.AttemptEnd) {
	span := trace.SpanFromContext(ctx)
	if span.IsRecording() {
		span.SetAttributes(keyOutcome.String(end.Outcome.String()), keyReason.String(end.Reason))
		if end.Canceled {
			span.SetAttributes(keyCanceled.Bool(true))
		}
		switch {
		case end.Panicked:
			span.SetStatus(codes.Error, "panic")
		case !end.Canceled && end.Outcome != classify.Success:
			desc := end.Reason
			if end.Err != nil {
				desc = end.Err.Error()
			}
			span.SetStatus(codes.Error, desc)
		}
	}
	span.End()
}
