package stress

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/regoresilience/rego/observe"
	"github.com/regoresilience/rego/policy"
)

// obsCall is what the observer saw of one call.
type obsCall struct {
	busy atomic.Bool // a callback of this call is running

	mu       sync.Mutex // guards the rest (written by callbacks, read by the checks)
	key      policy.Key
	starts   int
	ends     int
	success  bool
	attempts []observe.AttemptRecord // in callback order
	tl       *observe.Timeline
	problems []string
}

func (oc *obsCall) problem(format string, args ...any) {
	oc.problems = append(oc.problems, fmt.Sprintf(format, args...))
}

// checkObserver checks invariant 4 as the callbacks arrive: per call (found
// through the call id in the caller's ctx) OnStart once and first, OnAttempt
// per attempt, exactly one of OnSuccess/OnFailure last, and never two
// callbacks of one call at once. It keeps what it saw for the checks that
// follow the scenario.
type checkObserver struct {
	calls sync.Map // call id (uint64) -> *obsCall

	mu       sync.Mutex // guards problems
	problems []string   // callbacks that could not be tied to a call
}

var _ observe.Observer = (*checkObserver)(nil)

func newCheckObserver() *checkObserver { return &checkObserver{} }

func (o *checkObserver) lookup(id uint64) (*obsCall, bool) {
	v, ok := o.calls.Load(id)
	if !ok {
		return nil, false
	}
	return v.(*obsCall), true
}

// enter finds the call's record and marks it busy; owned is false when another
// callback of the same call was already running (a violation, recorded).
func (o *checkObserver) enter(ctx context.Context, what string) (oc *obsCall, owned bool) {
	id, ok := ctx.Value(callIDKey{}).(uint64)
	if !ok {
		o.mu.Lock()
		o.problems = append(o.problems, what+" called with a context that is not the caller's (no call id)")
		o.mu.Unlock()
		return nil, false
	}
	v, _ := o.calls.LoadOrStore(id, &obsCall{})
	oc = v.(*obsCall)
	owned = oc.busy.CompareAndSwap(false, true)
	oc.mu.Lock()
	if !owned {
		oc.problem("%s ran while another callback of the same call was running", what)
	}
	return oc, owned
}

func (o *checkObserver) leave(oc *obsCall, owned bool) {
	oc.mu.Unlock()
	// Give a concurrent callback of the same call (there must be none) a chance
	// to run and trip the busy flag.
	runtime.Gosched()
	if owned {
		oc.busy.Store(false)
	}
}

// OnStart implements observe.Observer.
func (o *checkObserver) OnStart(ctx context.Context, key policy.Key) {
	oc, owned := o.enter(ctx, "OnStart")
	if oc == nil {
		return
	}
	defer o.leave(oc, owned)
	oc.starts++
	oc.key = key
	if oc.starts > 1 {
		oc.problem("OnStart called %d times", oc.starts)
	}
	if len(oc.attempts) > 0 || oc.ends > 0 {
		oc.problem("OnStart after OnAttempt or the end")
	}
}

// OnAttempt implements observe.Observer.
func (o *checkObserver) OnAttempt(ctx context.Context, key policy.Key, rec observe.AttemptRecord) {
	oc, owned := o.enter(ctx, "OnAttempt")
	if oc == nil {
		return
	}
	defer o.leave(oc, owned)
	if oc.starts == 0 {
		oc.problem("OnAttempt #%d before OnStart", rec.Index)
	}
	if oc.ends > 0 {
		oc.problem("OnAttempt #%d after the call ended", rec.Index)
	}
	if key != oc.key {
		oc.problem("OnAttempt key %s, OnStart key %s", key, oc.key)
	}
	oc.attempts = append(oc.attempts, rec)
}

func (o *checkObserver) end(ctx context.Context, tl *observe.Timeline, success bool) {
	what := "OnFailure"
	if success {
		what = "OnSuccess"
	}
	oc, owned := o.enter(ctx, what)
	if oc == nil {
		return
	}
	defer o.leave(oc, owned)
	if oc.starts == 0 {
		oc.problem("%s before OnStart", what)
	}
	oc.ends++
	if oc.ends > 1 {
		oc.problem("%s: the call ended %d times", what, oc.ends)
	}
	if tl == nil {
		oc.problem("%s with a nil timeline", what)
	} else if tl.Key != oc.key {
		oc.problem("%s timeline key %s, OnStart key %s", what, tl.Key, oc.key)
	}
	oc.success, oc.tl = success, tl
}

// OnSuccess implements observe.Observer.
func (o *checkObserver) OnSuccess(ctx context.Context, tl *observe.Timeline) { o.end(ctx, tl, true) }

// OnFailure implements observe.Observer.
func (o *checkObserver) OnFailure(ctx context.Context, tl *observe.Timeline) { o.end(ctx, tl, false) }
