package observe_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/regoresilience/rego/classify"
	"github.com/regoresilience/rego/observe"
	"github.com/regoresilience/rego/policy"
)

var t0 = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)

func at(d time.Duration) time.Time { return t0.Add(d) }

// sampleTimeline is a retried and hedged success with events, at fixed times.
func sampleTimeline() *observe.Timeline {
	return &observe.Timeline{
		Key:   policy.Key{Namespace: "user-service", Name: "GetUser"},
		Start: t0,
		End:   at(142 * time.Millisecond),
		Attempts: []observe.AttemptRecord{
			{Index: 0, Start: at(0), End: at(12 * time.Millisecond), Err: errors.New("connection reset"),
				Outcome: classify.Retryable, Reason: classify.ReasonError},
			{Index: 1, Start: at(62 * time.Millisecond), End: at(142 * time.Millisecond), Err: context.Canceled,
				Outcome: classify.Retryable, Reason: classify.ReasonAttemptCanceled, Backoff: 50 * time.Millisecond, Canceled: true},
			{Index: 2, Hedge: true, Start: at(92 * time.Millisecond), End: at(141234567),
				Outcome: classify.Success, Reason: classify.ReasonSuccess},
		},
		Events: []observe.Event{
			{Kind: observe.EventPushback, At: at(12 * time.Millisecond), Attempt: 0, Duration: 50 * time.Millisecond},
			{Kind: observe.EventHedgeFired, At: at(92 * time.Millisecond), Attempt: 2},
			{Kind: observe.EventBudgetDenied, At: at(141 * time.Millisecond), Attempt: -1, Name: "retry-shared", Detail: "ratio 10%"},
		},
		Pattern:       "user-service.*",
		PolicySource:  "file",
		PolicyVersion: 7,
	}
}

func TestTimelineString(t *testing.T) {
	got := sampleTimeline().String()
	want := strings.Join([]string{
		`user-service.GetUser  3 attempts (1 hedge)  142ms  ok (policy "user-service.*" from file v7)`,
		`  #0 12ms retryable error: connection reset  backoff 0s  at +0s`,
		`  #1 80ms retryable attempt_canceled: context canceled  backoff 50ms  at +62ms  (canceled)`,
		`  #2 hedge 49.2ms success  at +92ms`,
		`  event pushback at +12ms attempt #0 50ms`,
		`  event hedge_fired at +92ms attempt #2`,
		`  event budget_denied at +141ms retry-shared: ratio 10%`,
	}, "\n")
	if got != want {
		t.Errorf("String() =\n%s\nwant\n%s", got, want)
	}
}

func TestTimelineStringFailureAndEdges(t *testing.T) {
	for _, tc := range []struct {
		name string
		tl   *observe.Timeline
		want string
	}{
		{"nil", nil, "<nil timeline>"},
		{"zero", &observe.Timeline{}, "(no key)  0 attempts  0s  ok (default policy)"},
		{
			"failure_multiline_error",
			&observe.Timeline{
				Key: policy.Key{Namespace: "db"}, Start: t0, End: at(2 * time.Second),
				Attempts: []observe.AttemptRecord{{Index: 0, Start: t0, End: at(time.Second),
					Err: classify.Permanent(errors.Join(errors.New("a"), errors.New("b"))), Outcome: classify.Abort, Reason: "permanent"}},
				FinalErr:     errors.Join(errors.New("a"), errors.New("b")),
				PolicySource: "fallback",
				Events:       []observe.Event{{Kind: observe.EventFallback, At: t0, Attempt: -1, Name: "classifier", Detail: `unknown "http"`}},
			},
			"db  1 attempt  2s  failed (default policy from fallback): a; b\n" +
				"  #0 1s abort permanent: a; b  backoff 0s  at +0s\n" +
				`  event fallback at +0s classifier: unknown "http"`,
		},
		{
			"unfinished_and_unset_times",
			&observe.Timeline{
				Key:      policy.Key{Namespace: "svc", Name: "Op"},
				Attempts: []observe.AttemptRecord{{Index: 0}},
				Events:   []observe.Event{{Kind: 42, Attempt: -1}},
				FinalErr: errors.New("closed"),
				Pattern:  "*",
			},
			"svc.Op  1 attempt  0s  failed (policy \"*\"): closed\n" +
				"  #0 unfinished success  backoff 0s\n" +
				"  event event(42)",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.tl.String(); got != tc.want {
				t.Errorf("String() =\n%s\nwant\n%s", got, tc.want)
			}
		})
	}
}

func TestTimelineStringLongError(t *testing.T) {
	tl := &observe.Timeline{Key: policy.Key{Namespace: "a", Name: "b"}, FinalErr: errors.New(strings.Repeat("é", 300))}
	first := strings.SplitN(tl.String(), "\n", 2)[0]
	if !strings.HasSuffix(first, "…") || len(first) > 300 {
		t.Errorf("long error not cut: %d bytes", len(first))
	}
}

func TestTimelineAccessors(t *testing.T) {
	tl := sampleTimeline()
	if tl.Duration() != 142*time.Millisecond || !tl.Succeeded() || !tl.Hedged() || tl.Hedges() != 1 {
		t.Errorf("accessors: %v %v %v %v", tl.Duration(), tl.Succeeded(), tl.Hedged(), tl.Hedges())
	}
	if rec, ok := tl.Decisive(); !ok || rec.Index != 2 {
		t.Errorf("Decisive = %v, %v; want #2", rec.Index, ok)
	}
	if d := tl.Attempts[0].Duration(); d != 12*time.Millisecond {
		t.Errorf("attempt Duration = %v", d)
	}
	var nilTL *observe.Timeline
	if nilTL.Duration() != 0 || nilTL.Succeeded() || nilTL.Hedged() {
		t.Error("nil timeline accessors")
	}
	if _, ok := nilTL.Decisive(); ok {
		t.Error("nil timeline has a decisive attempt")
	}
	if (observe.AttemptRecord{Start: at(time.Second), End: t0}).Duration() != 0 {
		t.Error("End before Start should give 0")
	}
	if (observe.AttemptRecord{Start: t0}).Duration() != 0 {
		t.Error("unfinished attempt should give 0")
	}
}

func TestTimelineDecisiveFailure(t *testing.T) {
	tl := &observe.Timeline{
		FinalErr: errors.New("x"),
		Attempts: []observe.AttemptRecord{
			{Index: 0, Outcome: classify.Retryable, Reason: "error"},
			{Index: 1, Outcome: classify.Abort, Reason: "permanent"},
			{Index: 2, Hedge: true, Outcome: classify.Retryable, Reason: "attempt_canceled", Canceled: true},
		},
	}
	if rec, ok := tl.Decisive(); !ok || rec.Index != 1 {
		t.Errorf("Decisive = #%d, want #1", rec.Index)
	}
	tl.Attempts = tl.Attempts[2:]
	if rec, ok := tl.Decisive(); !ok || rec.Index != 2 {
		t.Errorf("all canceled: Decisive = #%d, want #2", rec.Index)
	}
}

func TestEventKindString(t *testing.T) {
	want := map[observe.EventKind]string{
		observe.EventBudgetDenied: "budget_denied",
		observe.EventFallback:     "fallback",
		observe.EventDeadlineSkip: "deadline_skip",
		observe.EventPushback:     "pushback",
		observe.EventHedgeFired:   "hedge_fired",
		observe.EventPanic:        "panic",
		observe.EventBreakerOpen:  "breaker_open",
		0:                         "event(0)",
	}
	for k, w := range want {
		if k.String() != w {
			t.Errorf("EventKind(%d) = %q, want %q", uint8(k), k.String(), w)
		}
	}
}

func TestFmtDur(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0:                          "0s",
		999:                        "999ns",
		1234:                       "1.23µs",
		142345678:                  "142ms",
		12345678:                   "12.3ms",
		1234567890:                 "1.23s",
		-12345678:                  "-12.3ms",
		61*time.Second + 123456789: "1m1.1s",
		-1 << 63:                   "-2562047h47m16.854775808s",
	} {
		if got := observe.FmtDur(d); got != want {
			t.Errorf("fmtDur(%d) = %q, want %q", int64(d), got, want)
		}
	}
}

func TestOneLine(t *testing.T) {
	if got := observe.OneLine("a\nb\r\nc\rd"); got != "a; b; c; d" {
		t.Errorf("OneLine = %q", got)
	}
}
