package observe_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/regoresilience/rego/classify"
	"github.com/regoresilience/rego/observe"
	"github.com/regoresilience/rego/policy"
)

// dropTime removes the time attribute so that log output is deterministic.
func dropTime(groups []string, a slog.Attr) slog.Attr {
	if len(groups) == 0 && a.Key == slog.TimeKey {
		return slog.Attr{}
	}
	return a
}

func textLogger(buf *bytes.Buffer, level slog.Level) *slog.Logger {
	return slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: level, ReplaceAttr: dropTime}))
}

func lines(buf *bytes.Buffer) []string {
	s := strings.TrimRight(buf.String(), "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

func TestSlogObserver(t *testing.T) {
	var buf bytes.Buffer
	o := observe.NewSlogObserver(textLogger(&buf, slog.LevelDebug))
	ctx := context.Background()
	tl := sampleTimeline()
	o.OnStart(ctx, tl.Key)
	for _, rec := range tl.Attempts {
		o.OnAttempt(ctx, tl.Key, rec)
	}
	o.OnSuccess(ctx, tl)

	failed := &observe.Timeline{
		Key:   policy.Key{Namespace: "db", Name: "Query"},
		Start: t0, End: at(30 * time.Millisecond),
		Attempts: []observe.AttemptRecord{{Index: 0, Start: t0, End: at(30 * time.Millisecond),
			Err: classify.Permanent(errors.New("syntax error")), Outcome: classify.Abort, Reason: classify.ReasonPermanent}},
		FinalErr: classify.Permanent(errors.New("syntax error")),
	}
	o.OnFailure(ctx, failed)

	want := []string{
		`level=DEBUG msg="rego attempt" key=user-service.GetUser attempt=0 hedge=false outcome=retryable reason=error duration=12ms err="connection reset"`,
		`level=DEBUG msg="rego attempt" key=user-service.GetUser attempt=1 hedge=false outcome=retryable reason=attempt_canceled duration=80ms backoff=50ms canceled=true err="context canceled"`,
		`level=DEBUG msg="rego attempt" key=user-service.GetUser attempt=2 hedge=true outcome=success reason=success duration=49.234567ms`,
		`level=INFO msg="rego call succeeded" key=user-service.GetUser attempts=3 hedges=1 duration=142ms outcome=success reason=success policy=user-service.* policy_source=file policy_version=7 events=pushback,hedge_fired,budget_denied`,
		`level=WARN msg="rego call failed" key=db.Query attempts=1 duration=30ms outcome=abort reason=permanent policy="" policy_source="" err="syntax error"`,
	}
	got := lines(&buf)
	if len(got) != len(want) {
		t.Fatalf("got %d lines:\n%s", len(got), buf.String())
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("line %d:\n got %s\nwant %s", i, got[i], want[i])
		}
	}
}

// TestSlogObserverLevels verifies the level rules: a one-attempt success is
// Debug, a retried one Info, a failure Warn; attempts are Debug.
func TestSlogObserverLevels(t *testing.T) {
	var buf bytes.Buffer
	o := observe.NewSlogObserver(textLogger(&buf, slog.LevelInfo))
	ctx := context.Background()
	one := &observe.Timeline{Key: policy.Key{Namespace: "a", Name: "b"}, Attempts: []observe.AttemptRecord{{}}}
	o.OnStart(ctx, one.Key)
	o.OnAttempt(ctx, one.Key, one.Attempts[0])
	o.OnSuccess(ctx, one)
	if buf.Len() != 0 {
		t.Fatalf("Info logger got Debug records:\n%s", buf.String())
	}
	two := &observe.Timeline{Key: one.Key, Attempts: make([]observe.AttemptRecord, 2)}
	o.OnSuccess(ctx, two)
	o.OnFailure(ctx, &observe.Timeline{Key: one.Key, FinalErr: errors.New("x")})
	o.OnSuccess(ctx, nil)
	o.OnFailure(ctx, nil)
	got := lines(&buf)
	if len(got) != 2 || !strings.HasPrefix(got[0], "level=INFO ") || !strings.HasPrefix(got[1], "level=WARN ") {
		t.Errorf("got:\n%s", buf.String())
	}
}

// TestSlogObserverNilLogger verifies that a nil logger follows slog.Default,
// including a default set after the observer was built.
func TestSlogObserverNilLogger(t *testing.T) {
	prev := slog.Default()
	t.Cleanup(func() { slog.SetDefault(prev) })
	o := observe.NewSlogObserver(nil)
	var buf bytes.Buffer
	slog.SetDefault(textLogger(&buf, slog.LevelDebug))
	o.OnFailure(nil, &observe.Timeline{FinalErr: errors.New("x")}) //nolint:staticcheck // nil ctx is tolerated
	if !strings.Contains(buf.String(), `msg="rego call failed"`) {
		t.Errorf("default logger not used: %q", buf.String())
	}
}

func TestSlogObserverJSON(t *testing.T) {
	var buf bytes.Buffer
	l := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug, ReplaceAttr: dropTime}))
	observe.NewSlogObserver(l).OnAttempt(context.Background(), policy.Key{Namespace: "a", Name: "b"},
		observe.AttemptRecord{Index: 1, Err: errors.New("boom"), Outcome: classify.Retryable, Reason: "error", Backoff: time.Millisecond})
	want := `{"level":"DEBUG","msg":"rego attempt","key":"a.b","attempt":1,"hedge":false,"outcome":"retryable","reason":"error","duration":0,"backoff":1000000,"err":"boom"}` + "\n"
	if buf.String() != want {
		t.Errorf("got  %s\nwant %s", buf.String(), want)
	}
}
