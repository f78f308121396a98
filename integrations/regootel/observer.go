package regootel

import (
	"context"
	"errors"
	"fmt"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/regoresilience/rego/classify"
	"github.com/regoresilience/rego/engine"
	"github.com/regoresilience/rego/observe"
	"github.com/regoresilience/rego/policy"
)

// ScopeName is the instrumentation scope of regootel's meter and tracer.
const ScopeName = "github.com/regoresilience/rego/integrations/regootel"

// ErrNilProvider is returned by NewObserver when an option was given a nil
// provider.
var ErrNilProvider = errors.New("regootel: nil provider")

// Option configures NewObserver and NewAttemptHook. Each uses the options
// that concern it and ignores the others.
type Option func(*config) error

type config struct {
	tp trace.TracerProvider
	mp metric.MeterProvider
}

// WithTracerProvider sets the tracer provider of the attempt spans that
// NewAttemptHook starts (default: otel.GetTracerProvider() when
// NewAttemptHook runs).
//
// NewObserver starts no span: it writes its span events and attributes on
// the span already in the caller's context, whichever provider created it,
// and ignores this option.
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(c *config) error {
		if tp == nil {
			return fmt.Errorf("%w: tracer provider", ErrNilProvider)
		}
		c.tp = tp
		return nil
	}
}

// WithMeterProvider sets the meter provider NewObserver's instruments are
// made with (default: otel.GetMeterProvider() when NewObserver runs, which
// follows a later otel.SetMeterProvider). NewAttemptHook ignores it.
func WithMeterProvider(mp metric.MeterProvider) Option {
	return func(c *config) error {
		if mp == nil {
			return fmt.Errorf("%w: meter provider", ErrNilProvider)
		}
		c.mp = mp
		return nil
	}
}

// NewObserver returns an observer that reports calls to OpenTelemetry (see
// the package documentation for what it records). It is safe for concurrent
// use, as the engine requires, and may be shared by several engines.
//
// The error is a bad option or an instrument the meter provider refused to
// create.
func NewObserver(opts ...Option) (observe.Observer, error) {
	c, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	if c.mp == nil {
		c.mp = otel.GetMeterProvider()
	}
	o := &observer{}
	o.cache.init(maxCachedSets)
	if err := o.instruments(c.mp.Meter(ScopeName)); err != nil {
		return nil, err
	}
	return o, nil
}

// newConfig applies opts; a nil option is skipped.
func newConfig(opts []Option) (config, error) {
	var c config
	for _, o := range opts {
		if o == nil {
			continue
		}
		if err := o(&c); err != nil {
			return config{}, err
		}
	}
	return c, nil
}

// durationBuckets are the histograms' advisory bucket boundaries in
// seconds: OTel's HTTP duration buckets with two more below 5ms, since a
// call that succeeds at once often takes well under a millisecond.
var durationBuckets = []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10}

// observer is immutable after NewObserver except for its cache, which is
// safe for concurrent use: every callback of every call may run at once.
type observer struct {
	callDur    metric.Float64Histogram
	calls      metric.Int64Counter
	attemptDur metric.Float64Histogram
	attempts   metric.Int64Counter
	hedges     metric.Int64Counter
	hedgesWon  metric.Int64Counter
	denials    metric.Int64Counter

	cache setCache
}

func (o *observer) instruments(m metric.Meter) error {
	var err error
	o.callDur, err = m.Float64Histogram("rego.call.duration", metric.WithUnit("s"),
		metric.WithDescription("Duration of rego calls, every attempt and backoff included."),
		metric.WithExplicitBucketBoundaries(durationBuckets...))
	if err != nil {
		return err
	}
	o.calls, err = m.Int64Counter("rego.calls", metric.WithUnit("{call}"),
		metric.WithDescription("rego calls, by final outcome and reason."))
	if err != nil {
		return err
	}
	o.attemptDur, err = m.Float64Histogram("rego.attempt.duration", metric.WithUnit("s"),
		metric.WithDescription("Duration of single attempts of rego calls, retries and hedges included."),
		metric.WithExplicitBucketBoundaries(durationBuckets...))
	if err != nil {
		return err
	}
	o.attempts, err = m.Int64Counter("rego.attempts", metric.WithUnit("{attempt}"),
		metric.WithDescription("Attempts of rego calls, by the classifier's outcome and reason, hedge or not."))
	if err != nil {
		return err
	}
	o.hedges, err = m.Int64Counter("rego.hedges.fired", metric.WithUnit("{hedge}"),
		metric.WithDescription("Hedge attempts started."))
	if err != nil {
		return err
	}
	o.hedgesWon, err = m.Int64Counter("rego.hedges.won", metric.WithUnit("{hedge}"),
		metric.WithDescription("Calls won by a hedge attempt."))
	if err != nil {
		return err
	}
	o.denials, err = m.Int64Counter("rego.budget.denials", metric.WithUnit("{denial}"),
		metric.WithDescription("Retries, hedges and first attempts refused by a budget."))
	return err
}

// OnStart records nothing: the call's duration comes from its timeline.
func (o *observer) OnStart(context.Context, policy.Key) {}

// OnAttempt annotates the caller's span. The attempt's metrics wait for the
// end of the call: only the finished timeline says whether the key was sent
// to the engine's overflow worker, and so which key the metrics may carry.
func (o *observer) OnAttempt(ctx context.Context, key policy.Key, rec observe.AttemptRecord) {
	if span := trace.SpanFromContext(ctx); span.IsRecording() {
		attemptEvent(span, key, &rec)
	}
}

func (o *observer) OnSuccess(ctx context.Context, tl *observe.Timeline) { o.end(ctx, tl) }

func (o *observer) OnFailure(ctx context.Context, tl *observe.Timeline) { o.end(ctx, tl) }

func (o *observer) end(ctx context.Context, tl *observe.Timeline) {
	if tl == nil {
		return
	}
	failed := tl.FinalErr != nil
	// The reason is computed only when something records it: with no-op
	// providers and no recording span, end costs a few checks.
	reason := ""
	if span := trace.SpanFromContext(ctx); span.IsRecording() {
		reason = callReason(tl)
		callSpan(span, tl, failed, reason)
	}
	key := metricKey(tl)
	if count, timed := o.attempts.Enabled(ctx), o.attemptDur.Enabled(ctx); count || timed {
		for i := range tl.Attempts {
			rec := &tl.Attempts[i]
			s := o.cache.get(setKey{kind: kindAttempt, key: key, outcome: uint8(rec.Outcome), hedge: rec.Hedge, s: rec.Reason})
			if count {
				o.attempts.Add(ctx, 1, s.add...)
			}
			if timed {
				o.attemptDur.Record(ctx, rec.Duration().Seconds(), s.rec...)
			}
		}
	}
	if count, timed := o.calls.Enabled(ctx), o.callDur.Enabled(ctx); count || timed {
		if reason == "" {
			reason = callReason(tl)
		}
		outcome := uint8(0)
		if failed {
			outcome = 1
		}
		s := o.cache.get(setKey{kind: kindCall, key: key, outcome: outcome, s: reason})
		if count {
			o.calls.Add(ctx, 1, s.add...)
		}
		if timed {
			o.callDur.Record(ctx, tl.Duration().Seconds(), s.rec...)
		}
	}
	if h := tl.Hedges(); h > 0 {
		if o.hedges.Enabled(ctx) {
			o.hedges.Add(ctx, int64(h), o.cache.get(setKey{kind: kindKey, key: key}).add...)
		}
		if w := winner(tl); w != nil && w.Hedge && o.hedgesWon.Enabled(ctx) {
			o.hedgesWon.Add(ctx, 1, o.cache.get(setKey{kind: kindKey, key: key}).add...)
		}
	}
	for i := range tl.Events {
		if ev := &tl.Events[i]; ev.Kind == observe.EventBudgetDenied && o.denials.Enabled(ctx) {
			o.denials.Add(ctx, 1, o.cache.get(setKey{kind: kindBudget, key: key, s: ev.Name}).add...)
		}
	}
}

// overflowKey is the rego.key that metrics carry for calls the engine sent
// to its overflow worker: keys past engine.WithMaxKeys, and invalid keys
// under engine.InvalidKeyOverflow. The
// engine bounds its keys so; regootel keeps the bound in the metrics (spans
// keep the caller's key: a trace has no cardinality limit). It is the
// overflow worker's own key.
var overflowKey = policy.Key{Namespace: "rego", Name: "overflow"}

// metricKey returns the key the call's metrics carry: its own, or
// overflowKey when the engine recorded the "key" fallback (the call ran on
// the overflow worker).
func metricKey(tl *observe.Timeline) policy.Key {
	for i := range tl.Events {
		if ev := &tl.Events[i]; ev.Kind == observe.EventFallback && ev.Name == fallbackKey {
			return overflowKey
		}
	}
	return tl.Key
}

// fallbackKey is the Name of the fallback event the engine records on every
// call of its overflow worker (see observe.EventFallback).
const fallbackKey = "key"

// winner returns the attempt that won a successful call (the one
// observe.Timeline.Decisive returns, without copying it), nil for a failed
// call.
func winner(tl *observe.Timeline) *observe.AttemptRecord {
	if tl.FinalErr != nil {
		return nil
	}
	for i := range tl.Attempts {
		if a := &tl.Attempts[i]; a.Outcome == classify.Success && a.Err == nil && !a.Canceled {
			return a
		}
	}
	return nil
}

// Call outcomes, as the rego.outcome attribute of calls.
const (
	outcomeSuccess = "success"
	outcomeFailure = "failure"
)

// reasonPanic is a call's rego.reason when the operation (or a classifier,
// budget or observer) panicked or called runtime.Goexit.
const reasonPanic = "panic"

// reasonError is a failed call's rego.reason when its error is none of the
// engine's (a call refused before its first attempt, for instance).
const reasonError = "error"

// callReason says why the call ended: the winning attempt's reason on
// success, the engine's stop reason on failure.
func callReason(tl *observe.Timeline) string {
	if tl.FinalErr == nil {
		if w := winner(tl); w != nil && w.Reason != "" {
			return w.Reason
		}
		return outcomeSuccess
	}
	if e, ok := errors.AsType[*engine.Error](tl.FinalErr); ok && e.Reason != "" {
		return e.Reason
	}
	if _, ok := errors.AsType[*engine.PanicError](tl.FinalErr); ok {
		return reasonPanic
	}
	return reasonError
}
