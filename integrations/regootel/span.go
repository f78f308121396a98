package regootel

import (
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/regoresilience/rego/observe"
	"github.com/regoresilience/rego/policy"
)

// Span event names. Events of the timeline are named "rego." + the event
// kind's String ("rego.budget_denied", "rego.hedge_fired", ...).
const (
	eventAttempt = "rego.attempt"
	eventPrefix  = "rego."
)

// Attribute keys, on metrics, span events and the caller's span.
const (
	keyKey      = attribute.Key("rego.key")
	keyOutcome  = attribute.Key("rego.outcome")
	keyReason   = attribute.Key("rego.reason")
	keyHedge    = attribute.Key("rego.hedge")
	keyBudget   = attribute.Key("rego.budget")
	keyIndex    = attribute.Key("rego.attempt.index")
	keyBackoff  = attribute.Key("rego.attempt.backoff")
	keyDuration = attribute.Key("rego.attempt.duration")
	keyCanceled = attribute.Key("rego.attempt.canceled")
	keyError    = attribute.Key("error.message")

	keyEventName     = attribute.Key("rego.event.name")
	keyEventDetail   = attribute.Key("rego.event.detail")
	keyEventDuration = attribute.Key("rego.event.duration")

	keyAttempts      = attribute.Key("rego.attempts")
	keyHedges        = attribute.Key("rego.hedges")
	keyCallDuration  = attribute.Key("rego.call.duration")
	keyPolicy        = attribute.Key("rego.policy")
	keyPolicySource  = attribute.Key("rego.policy.source")
	keyPolicyVersion = attribute.Key("rego.policy.version")
)

// attemptEvent adds the "rego.attempt" event to span, at the attempt's end.
// Only called for a recording span: the attributes are built per event.
func attemptEvent(span trace.Span, key policy.Key, rec *observe.AttemptRecord) {
	attrs := make([]attribute.KeyValue, 0, 9)
	attrs = append(attrs,
		keyKey.String(key.String()),
		keyIndex.Int(rec.Index),
		keyHedge.Bool(rec.Hedge),
		keyOutcome.String(rec.Outcome.String()),
		keyReason.String(rec.Reason),
		keyBackoff.Float64(rec.Backoff.Seconds()),
		keyDuration.Float64(rec.Duration().Seconds()),
	)
	if rec.Canceled {
		attrs = append(attrs, keyCanceled.Bool(true))
	}
	if rec.Err != nil {
		attrs = append(attrs, keyError.String(rec.Err.Error()))
	}
	span.AddEvent(eventAttempt, trace.WithAttributes(attrs...), at(rec.End, rec.Start))
}

// callSpan adds the timeline's events to span, each at the time it
// happened, and sets the call's result as span attributes. A span that sees
// several rego calls keeps the last call's attributes; the events of each
// call carry its key.
func callSpan(span trace.Span, tl *observe.Timeline, failed bool, reason string) {
	key := tl.Key.String()
	for i := range tl.Events {
		ev := &tl.Events[i]
		attrs := make([]attribute.KeyValue, 0, 5)
		attrs = append(attrs, keyKey.String(key))
		if ev.Attempt >= 0 {
			attrs = append(attrs, keyIndex.Int(ev.Attempt))
		}
		if ev.Name != "" {
			attrs = append(attrs, keyEventName.String(ev.Name))
		}
		if ev.Detail != "" {
			attrs = append(attrs, keyEventDetail.String(firstLine(ev.Detail)))
		}
		if ev.Duration != 0 {
			attrs = append(attrs, keyEventDuration.Float64(ev.Duration.Seconds()))
		}
		span.AddEvent(eventPrefix+ev.Kind.String(), trace.WithAttributes(attrs...), at(ev.At, time.Time{}))
	}
	outcome := outcomeSuccess
	if failed {
		outcome = outcomeFailure
	}
	attrs := make([]attribute.KeyValue, 0, 9)
	attrs = append(attrs,
		keyKey.String(key),
		keyOutcome.String(outcome),
		keyReason.String(reason),
		keyAttempts.Int(len(tl.Attempts)),
		keyHedges.Int(tl.Hedges()),
		keyCallDuration.Float64(tl.Duration().Seconds()),
		keyPolicy.String(tl.Pattern),
		keyPolicySource.String(tl.PolicySource),
	)
	if tl.PolicyVersion > 0 {
		attrs = append(attrs, keyPolicyVersion.Int64(int64(tl.PolicyVersion)))
	}
	span.SetAttributes(attrs...)
}

// at timestamps an event with t, or with alt when t is unset; with neither
// the span uses the current time.
func at(t, alt time.Time) trace.SpanEventOption {
	if t.IsZero() {
		t = alt
	}
	if t.IsZero() {
		return trace.WithTimestamp(time.Now())
	}
	return trace.WithTimestamp(t)
}

// firstLine keeps a panic's message and drops the stack that follows it in
// the event's detail: a span attribute is no place for a stack trace.
func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}
