// Package observe records what happened during one resilient call and hands
// it to observers.
//
// # Model
//
// Every call through the engine can produce a [Timeline]: the key, the
// policy that decided it (pattern, source, version), one [AttemptRecord] per
// attempt in start order (retries and hedges alike), the notable [Event]s
// (a budget refusal, a fallback, server pushback, a hedge fired, a skipped
// retry, a panic) and the final error. Timeline.String renders it as a short
// report for logs, tests and bug reports.
//
// An [Observer] is told about a call as it runs: OnStart once, OnAttempt
// after each attempt finishes, then exactly one of OnSuccess or OnFailure
// with the finished timeline. [NewSlogObserver] logs those callbacks with
// log/slog; [Fanout] combines observers; [Base] lets an observer implement
// only the callbacks it needs.
//
// The operation itself can learn which attempt it is running with
// [AttemptFromContext] (index, hedge or not, the attempt's deadline), for
// example to tag an outgoing request or to log.
//
// # Ownership
//
// The engine owns a Timeline while the call runs and is the only writer:
// it builds the timeline on the call's goroutine and appends records in
// order, so no lock is involved. Once the call ends (when OnSuccess or
// OnFailure runs, and when the timeline is returned to the caller) the
// timeline is complete and never written again: observers and callers may
// read it and keep it, but must not modify it, since every observer of the
// call and the caller share the same value.
//
// The engine, not this package, enforces the callback order and guarantees
// that callbacks for one call never run concurrently; Fanout preserves that
// order across the observers it wraps. Observers are shared by all calls and
// so are called concurrently for different calls.
//
// This package never reads the clock: every time in a Timeline comes from
// the engine's injected clock, which is what makes timelines reproducible in
// tests.
package observe
