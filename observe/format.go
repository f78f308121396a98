package observe

import (
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// maxErrText bounds an error or detail text in Timeline.String so that one
// huge error (a joined error, an HTML error page) does not drown the report.
const maxErrText = 200

// String renders the timeline as a compact report: a header line, one line
// per attempt, one line per event. For example:
//
//	user-service.GetUser  3 attempts (1 hedge)  142ms  ok (policy "user-service.*" from file v7)
//	  #0 12ms retryable error: connection reset  backoff 0s  at +0s
//	  #1 hedge 80ms retryable attempt_canceled: context canceled  at +62ms  (canceled)
//	  #2 30ms success  backoff 50ms  at +112ms
//	  event hedge_fired at +62ms attempt #1
//
// Durations keep three significant digits; offsets ("at +62ms") are
// relative to the timeline's Start; error texts are put on one line and cut
// at 200 bytes. The output depends only on the timeline's fields, so it is
// stable for fixed times. String is nil-safe.
func (t *Timeline) String() string {
	if t == nil {
		return "<nil timeline>"
	}
	var b strings.Builder
	t.writeHeader(&b)
	for i := range t.Attempts {
		b.WriteByte('\n')
		t.writeAttempt(&b, &t.Attempts[i])
	}
	for i := range t.Events {
		b.WriteByte('\n')
		t.writeEvent(&b, &t.Events[i])
	}
	return b.String()
}

func (t *Timeline) writeHeader(b *strings.Builder) {
	key := t.Key.String()
	if key == "" {
		key = "(no key)"
	}
	b.WriteString(key)
	b.WriteString("  ")
	n := len(t.Attempts)
	b.WriteString(strconv.Itoa(n))
	if n == 1 {
		b.WriteString(" attempt")
	} else {
		b.WriteString(" attempts")
	}
	if h := t.Hedges(); h > 0 {
		b.WriteString(" (" + strconv.Itoa(h) + " hedge")
		if h > 1 {
			b.WriteByte('s')
		}
		b.WriteByte(')')
	}
	b.WriteString("  ")
	b.WriteString(fmtDur(t.Duration()))
	if t.FinalErr == nil {
		b.WriteString("  ok")
	} else {
		b.WriteString("  failed")
	}
	b.WriteString(" (")
	if t.Pattern != "" {
		b.WriteString("policy " + strconv.Quote(t.Pattern))
	} else {
		b.WriteString("default policy")
	}
	if t.PolicySource != "" {
		b.WriteString(" from " + t.PolicySource)
	}
	if t.PolicyVersion > 0 {
		b.WriteString(" v" + strconv.FormatUint(t.PolicyVersion, 10))
	}
	b.WriteByte(')')
	if t.FinalErr != nil {
		b.WriteString(": ")
		b.WriteString(oneLine(t.FinalErr.Error()))
	}
}

func (t *Timeline) writeAttempt(b *strings.Builder, r *AttemptRecord) {
	b.WriteString("  #")
	b.WriteString(strconv.Itoa(r.Index))
	if r.Hedge {
		b.WriteString(" hedge")
	}
	b.WriteByte(' ')
	if r.End.IsZero() {
		b.WriteString("unfinished")
	} else {
		b.WriteString(fmtDur(r.Duration()))
	}
	b.WriteByte(' ')
	out := r.Outcome.String()
	b.WriteString(out)
	if r.Reason != "" && r.Reason != out {
		b.WriteByte(' ')
		b.WriteString(r.Reason)
	}
	if r.Err != nil {
		b.WriteString(": ")
		b.WriteString(oneLine(r.Err.Error()))
	}
	if !r.Hedge {
		b.WriteString("  backoff ")
		b.WriteString(fmtDur(r.Backoff))
	}
	t.writeOffset(b, "  at ", r.Start)
	if r.Canceled {
		b.WriteString("  (canceled)")
	}
}

func (t *Timeline) writeEvent(b *strings.Builder, e *Event) {
	b.WriteString("  event ")
	b.WriteString(e.Kind.String())
	t.writeOffset(b, " at ", e.At)
	if e.Attempt >= 0 {
		b.WriteString(" attempt #")
		b.WriteString(strconv.Itoa(e.Attempt))
	}
	if e.Name != "" {
		b.WriteByte(' ')
		b.WriteString(oneLine(e.Name))
	}
	if e.Detail != "" {
		b.WriteString(": ")
		b.WriteString(oneLine(e.Detail))
	}
	if e.Duration != 0 {
		b.WriteByte(' ')
		b.WriteString(fmtDur(e.Duration))
	}
}

// writeOffset writes prefix and at's offset from the timeline's start, or
// nothing when either time is unset.
func (t *Timeline) writeOffset(b *strings.Builder, prefix string, at time.Time) {
	if at.IsZero() || t.Start.IsZero() {
		return
	}
	b.WriteString(prefix)
	d := at.Sub(t.Start)
	if d < 0 {
		b.WriteByte('-')
		d = -d
	} else {
		b.WriteByte('+')
	}
	b.WriteString(fmtDur(d))
}

// fmtDur rounds d to three significant digits ("142ms", "12.3ms", "1.23s")
// before formatting: timelines are read by people, and nanosecond noise
// hides what matters.
func fmtDur(d time.Duration) string {
	a := d
	if a < 0 {
		a = -a
	}
	if a < 0 { // math.MinInt64 has no positive counterpart
		return d.String()
	}
	unit := time.Duration(1)
	for v := a; v >= 1000; v /= 10 {
		unit *= 10
	}
	return d.Round(unit).String()
}

// oneLine flattens s to one line (errors.Join separates with newlines) and
// cuts it at maxErrText bytes on a rune boundary.
func oneLine(s string) string {
	if strings.ContainsAny(s, "\r\n") {
		s = strings.NewReplacer("\r\n", "; ", "\n", "; ", "\r", "; ").Replace(s)
	}
	if len(s) <= maxErrText {
		return s
	}
	cut := maxErrText
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
