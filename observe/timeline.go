package observe

import (
	"time"

	"github.com/regoresilience/rego/classify"
	"github.com/regoresilience/rego/policy"
)

// AttemptRecord describes one finished (or, in a timeline of a call that
// ended abruptly, unfinished) attempt.
type AttemptRecord struct {
	Index      int              // 0-based, in start order; hedges take the next index too
	Hedge      bool             // started by the hedge trigger, in parallel with an earlier attempt
	Start, End time.Time        // engine clock; End is zero while the attempt runs
	Err        error            // what the operation returned (nil on success)
	Outcome    classify.Outcome // the classifier's verdict
	Reason     string           // the classifier's reason (see the classify.Reason constants)
	Backoff    time.Duration    // the wait before this attempt started (0 for the first and for hedges)
	Canceled   bool             // cancelled by rego: it lost a hedge race, or the call ended
}

// Duration returns End - Start, or 0 when either is unset or End is before
// Start (an unfinished attempt).
func (r AttemptRecord) Duration() time.Duration {
	return span(r.Start, r.End)
}

// Timeline is the record of one call. See the package documentation for who
// may write it and when.
type Timeline struct {
	Key        policy.Key      // the operation called
	Start, End time.Time       // the whole call (engine clock), backoffs included
	Attempts   []AttemptRecord // in start order; Attempts[i].Index == i
	Events     []Event         // in the order they happened
	FinalErr   error           // what the call returned; nil on success

	// Pattern is the policy pattern that decided the call ("ns.Name",
	// "ns.Prefix.*", "ns.*", "*"); "" means the engine's default policy.
	Pattern string
	// PolicySource says where the policy came from: "static", "file",
	// "remote", "cache", "fallback" or "default".
	PolicySource string
	// PolicyVersion is the control-plane version of the policy set (0 = none).
	PolicyVersion uint64
}

// Duration returns End - Start: the whole call, backoffs included. It is 0
// for a nil timeline or one whose End is unset.
func (t *Timeline) Duration() time.Duration {
	if t == nil {
		return 0
	}
	return span(t.Start, t.End)
}

// Succeeded reports whether the call returned nil. A nil timeline did not
// succeed.
func (t *Timeline) Succeeded() bool { return t != nil && t.FinalErr == nil }

// Hedged reports whether at least one hedge attempt was started.
func (t *Timeline) Hedged() bool { return t.Hedges() > 0 }

// Hedges returns how many attempts were hedges.
func (t *Timeline) Hedges() int {
	if t == nil {
		return 0
	}
	n := 0
	for i := range t.Attempts {
		if t.Attempts[i].Hedge {
			n++
		}
	}
	return n
}

// Decisive returns the attempt that decided the call: the first attempt that
// succeeded or, when none did, the last attempt that rego did not cancel
// (the last attempt at all if every one was cancelled). ok is false when the
// timeline has no attempts.
func (t *Timeline) Decisive() (rec AttemptRecord, ok bool) {
	if t == nil || len(t.Attempts) == 0 {
		return AttemptRecord{}, false
	}
	for i := range t.Attempts {
		if t.Attempts[i].Outcome == classify.Success && t.Attempts[i].Err == nil && !t.Attempts[i].Canceled {
			return t.Attempts[i], true
		}
	}
	for i := len(t.Attempts) - 1; i >= 0; i-- {
		if !t.Attempts[i].Canceled {
			return t.Attempts[i], true
		}
	}
	return t.Attempts[len(t.Attempts)-1], true
}

func span(start, end time.Time) time.Duration {
	if start.IsZero() || end.IsZero() || end.Before(start) {
		return 0
	}
	return end.Sub(start)
}
