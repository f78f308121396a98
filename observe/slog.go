package observe

import (
	"context"
	"log/slog"
	"strings"

	"github.com/regoresilience/rego/policy"
)

// Messages logged by the slog observer; stable, so log queries can match them.
const (
	SlogMsgAttempt = "rego attempt"
	SlogMsgSuccess = "rego call succeeded"
	SlogMsgFailure = "rego call failed"
)

// NewSlogObserver returns an Observer that logs calls with l. A nil l means
// slog.Default(), looked up at each log so that a later slog.SetDefault is
// honoured.
//
// Levels: every attempt at Debug; a success at Debug when it took one
// attempt and at Info when it needed more (retries or hedges); a failure at
// Warn. OnStart logs nothing. Records are built only when the level is
// enabled, so a disabled Debug costs one Enabled check per attempt.
//
// Attributes, in this order:
//
//	attempt: key, attempt, hedge, outcome, reason, duration,
//	         backoff (if > 0), canceled (if true), err (if any)
//	call:    key, attempts, hedges (if > 0), duration, outcome and reason of
//	         the deciding attempt (see Timeline.Decisive), policy, policy_source,
//	         policy_version (if > 0), events (if any, e.g. "pushback,hedge_fired"),
//	         err (failures)
func NewSlogObserver(l *slog.Logger) Observer {
	return &slogObserver{l: l}
}

// slogObserver holds only its logger, set at construction: it is safe for
// concurrent use because slog.Logger is.
type slogObserver struct {
	l *slog.Logger // nil = slog.Default() at each call
}

func (o *slogObserver) logger() *slog.Logger {
	if o.l != nil {
		return o.l
	}
	return slog.Default()
}

// OnStart logs nothing: the attempt and end records carry the key.
func (o *slogObserver) OnStart(context.Context, policy.Key) {}

func (o *slogObserver) OnAttempt(ctx context.Context, key policy.Key, rec AttemptRecord) {
	l := o.logger()
	if !l.Enabled(ctx, slog.LevelDebug) {
		return
	}
	attrs := make([]slog.Attr, 0, 9)
	attrs = append(attrs,
		slog.String("key", key.String()),
		slog.Int("attempt", rec.Index),
		slog.Bool("hedge", rec.Hedge),
		slog.String("outcome", rec.Outcome.String()),
		slog.String("reason", rec.Reason),
		slog.Duration("duration", rec.Duration()),
	)
	if rec.Backoff > 0 {
		attrs = append(attrs, slog.Duration("backoff", rec.Backoff))
	}
	if rec.Canceled {
		attrs = append(attrs, slog.Bool("canceled", true))
	}
	if rec.Err != nil {
		attrs = append(attrs, slog.Any("err", rec.Err))
	}
	l.LogAttrs(ctx, slog.LevelDebug, SlogMsgAttempt, attrs...)
}

func (o *slogObserver) OnSuccess(ctx context.Context, tl *Timeline) {
	if tl == nil {
		return
	}
	level := slog.LevelDebug
	if len(tl.Attempts) > 1 {
		level = slog.LevelInfo
	}
	o.logCall(ctx, level, SlogMsgSuccess, tl)
}

func (o *slogObserver) OnFailure(ctx context.Context, tl *Timeline) {
	if tl == nil {
		return
	}
	o.logCall(ctx, slog.LevelWarn, SlogMsgFailure, tl)
}

func (o *slogObserver) logCall(ctx context.Context, level slog.Level, msg string, tl *Timeline) {
	l := o.logger()
	if !l.Enabled(ctx, level) {
		return
	}
	failed := tl.FinalErr != nil
	attrs := make([]slog.Attr, 0, 12)
	attrs = append(attrs,
		slog.String("key", tl.Key.String()),
		slog.Int("attempts", len(tl.Attempts)),
	)
	if h := tl.Hedges(); h > 0 {
		attrs = append(attrs, slog.Int("hedges", h))
	}
	attrs = append(attrs, slog.Duration("duration", tl.Duration()))
	if rec, ok := tl.Decisive(); ok {
		attrs = append(attrs,
			slog.String("outcome", rec.Outcome.String()),
			slog.String("reason", rec.Reason),
		)
	}
	attrs = append(attrs,
		slog.String("policy", tl.Pattern),
		slog.String("policy_source", tl.PolicySource),
	)
	if tl.PolicyVersion > 0 {
		attrs = append(attrs, slog.Uint64("policy_version", tl.PolicyVersion))
	}
	if len(tl.Events) > 0 {
		kinds := make([]string, len(tl.Events))
		for i := range tl.Events {
			kinds[i] = tl.Events[i].Kind.String()
		}
		attrs = append(attrs, slog.String("events", strings.Join(kinds, ",")))
	}
	if failed {
		attrs = append(attrs, slog.Any("err", tl.FinalErr))
	}
	l.LogAttrs(ctx, level, msg, attrs...)
}
