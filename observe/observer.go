package observe

import (
	"context"

	"github.com/regoresilience/rego/policy"
)

// Observer is told about calls as they run.
//
// For one call the engine guarantees this order, and never runs two
// callbacks of the same call concurrently, hedged attempts included:
//
//  1. OnStart, once, before the first attempt;
//  2. OnAttempt, once per attempt, after it finished and was classified
//     (with hedging, attempts can finish out of index order: use rec.Index);
//  3. exactly one of OnSuccess or OnFailure, with the finished timeline.
//
// Callbacks for different calls do run concurrently: an Observer is shared
// by every call of an engine and must be safe for concurrent use. Callbacks
// run on the call's critical path, so they must be quick and must not block;
// hand slow work (exporting, I/O) to another goroutine. ctx is the caller's
// context (carrying its trace, for instance).
//
// The timeline given to OnSuccess and OnFailure is complete and will not
// change; it is shared with the other observers and the caller: read it, keep
// it if useful, never modify it.
type Observer interface {
	// OnStart is called once when a call begins, before its first attempt.
	OnStart(ctx context.Context, key policy.Key)
	// OnAttempt is called after each attempt finished and was classified.
	OnAttempt(ctx context.Context, key policy.Key, rec AttemptRecord)
	// OnSuccess is called once when the call returns nil.
	OnSuccess(ctx context.Context, tl *Timeline)
	// OnFailure is called once when the call returns an error.
	OnFailure(ctx context.Context, tl *Timeline)
}

// Base implements every Observer method as a no-op. Embed it to implement
// only the callbacks you need:
//
//	type failureCounter struct {
//		observe.Base
//		n atomic.Int64
//	}
//
//	func (c *failureCounter) OnFailure(context.Context, *observe.Timeline) { c.n.Add(1) }
type Base struct{}

// OnStart does nothing.
func (Base) OnStart(context.Context, policy.Key) {}

// OnAttempt does nothing.
func (Base) OnAttempt(context.Context, policy.Key, AttemptRecord) {}

// OnSuccess does nothing.
func (Base) OnSuccess(context.Context, *Timeline) {}

// OnFailure does nothing.
func (Base) OnFailure(context.Context, *Timeline) {}

// Fanout returns an Observer that forwards every callback to obs, one after
// the other in the order given, so each of them sees the engine's ordering
// guarantees. nil entries are skipped and nested fanouts are flattened. With
// no non-nil observer Fanout returns nil (so the engine can skip timeline
// bookkeeping); with exactly one it returns that observer itself.
//
// Fanout does not recover panics: an observer that panics stops the
// observers after it for that callback, as any panicking code on the call's
// path would.
func Fanout(obs ...Observer) Observer {
	var flat fanout
	for _, o := range obs {
		switch o := o.(type) {
		case nil:
		case fanout:
			flat = append(flat, o...)
		default:
			flat = append(flat, o)
		}
	}
	switch len(flat) {
	case 0:
		return nil
	case 1:
		return flat[0]
	}
	return flat
}

// fanout is immutable once built: Fanout copies its arguments into a new
// slice, so a caller reusing its own slice cannot change it.
type fanout []Observer

func (f fanout) OnStart(ctx context.Context, key policy.Key) {
	for _, o := range f {
		o.OnStart(ctx, key)
	}
}

func (f fanout) OnAttempt(ctx context.Context, key policy.Key, rec AttemptRecord) {
	for _, o := range f {
		o.OnAttempt(ctx, key, rec)
	}
}

func (f fanout) OnSuccess(ctx context.Context, tl *Timeline) {
	for _, o := range f {
		o.OnSuccess(ctx, tl)
	}
}

func (f fanout) OnFailure(ctx context.Context, tl *Timeline) {
	for _, o := range f {
		o.OnFailure(ctx, tl)
	}
}
