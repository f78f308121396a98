package engine

import (
	"context"
	"runtime/debug"
	"time"

	"github.com/regoresilience/rego/classify"
	"github.com/regoresilience/rego/observe"
	"github.com/regoresilience/rego/policy"
)

// recorder builds the timeline and feeds the observers. Only the caller's
// goroutine uses it, which is what serializes the observer calls of one call.
type recorder struct {
	tl  *observe.Timeline // nil: nobody asked for one and no observer is installed
	obs observe.Observer
	ctx context.Context
	key policy.Key

	finished   bool // finish ran: the timeline is final and the observers were told
	inObserver bool // an observer method is running (a panic now is the observer's)
}

func (r *recorder) on() bool { return r.tl != nil }

func (r *recorder) event(ev observe.Event) {
	if r.tl != nil {
		r.tl.Events = append(r.tl.Events, ev)
	}
}

func (r *recorder) attempt(rec observe.AttemptRecord) {
	if r.tl == nil {
		return
	}
	r.tl.Attempts = append(r.tl.Attempts, rec)
	if r.obs != nil {
		r.inObserver = true
		r.obs.OnAttempt(r.ctx, r.key, rec)
		r.inObserver = false
	}
}

func (r *recorder) finish(end time.Time, err error, ok bool) {
	if r.tl == nil {
		return
	}
	r.finished = true
	r.tl.End = end
	r.tl.FinalErr = err
	if r.obs == nil {
		return
	}
	r.inObserver = true
	if ok {
		r.obs.OnSuccess(r.ctx, r.tl)
	} else {
		r.obs.OnFailure(r.ctx, r.tl)
	}
	r.inObserver = false
}

// abandon finishes a timeline whose call is leaving the loop by neither a
// return nor the re-raise of an op's recorded panic: something panicked in
// the caller's goroutine outside the op (a budget, an observer) or the op
// called runtime.Goexit. It must be called directly by a deferred function
// with what recover returned there (nil for Goexit); it re-raises a panic.
// attempt is the index of the attempt in flight when running, else of the
// next one; start is the in-flight attempt's start. When an observer was
// running, it is the observer's panic (or exit): the observers are not called
// again, and the panic goes on unchanged.
//
// recover cannot tell runtime.Goexit from a panic(nil) under
// GODEBUG=panicnil=1 (the default only for main modules older than Go 1.21,
// which cannot build rego): such a panic would be taken for a Goexit and end
// here.
func (r *recorder) abandon(rec any, now time.Time, attempt int, running bool, start time.Time) {
	if r.inObserver {
		if rec != nil {
			panic(rec)
		}
		return
	}
	val, reason, detail := rec, "panic", "panic outside the op"
	if rec == nil {
		val, reason, detail = ErrGoexit, "goexit", "the op called runtime.Goexit"
	}
	stack := debug.Stack()
	if running {
		r.attempt(observe.AttemptRecord{Index: attempt, Start: start, End: now, Outcome: classify.Abort, Reason: reason})
	}
	r.event(observe.Event{Kind: observe.EventPanic, At: now, Attempt: attempt, Detail: detail + "\n" + string(stack)})
	r.finish(now, &PanicError{Value: val, Stack: stack}, false)
	if rec != nil {
		panic(rec)
	}
}
