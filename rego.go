// Package rego is a policy-driven resilience library: every outbound call runs
// under the policy of its key — retries with bounded, jittered backoff and
// timeouts, hedged requests, budgets against retry storms, pluggable classifiers,
// and timelines and observers that show what happened.
//
// The happy path:
//
//	user, err := rego.DoValue(ctx, rego.ParseKey("user-service.GetUser"),
//		func(ctx context.Context) (User, error) { return client.GetUser(ctx, id) })
//
// Keys name a call site, not a request: they must be low-cardinality (see
// policy.Key.Validate). A call whose key fails Validate fails at once, before
// op runs, with an error matching ErrInvalidKey. Policies come from a
// controlplane.Provider given to NewExecutor; without one every key runs the
// conservative default policy.
//
// This package is a thin facade over engine; the package-level functions use the
// default executor (Default), which is created on first use.
package rego

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/regoresilience/rego/classify"
	"github.com/regoresilience/rego/engine"
	"github.com/regoresilience/rego/observe"
	"github.com/regoresilience/rego/policy"
)

// Key names a call site: {Namespace, Name}, written "ns.Name".
type Key = policy.Key

// Policy is what rego does for a key: retries, hedging, timeout, classifier, budgets.
type Policy = policy.Policy

// Timeline is the record of one call: its attempts, outcomes, waits and events.
type Timeline = observe.Timeline

// Executor runs operations under policies. It is safe for concurrent use.
type Executor = engine.Engine

// Option configures an Executor (see the engine.With* functions).
type Option = engine.Option

// ParseKey splits s at its first dot: "svc.Method" is {svc, Method} and
// "db.Users.Query" is {db, Users.Query}. It never panics; use Key.Validate to
// check the result.
func ParseKey(s string) Key { return policy.ParseKey(s) }

// ErrInvalidKey is matched (errors.Is) by the error of a call whose key fails
// Key.Validate: "users.GetUser/42" (request data in the key), "" or "GetUser"
// (no namespace). Such a call fails at once, before op runs, so that a typo
// cannot silently run the default policy instead of the one written for the
// key; the error is a *policy.KeyError naming the key and the rule it broke.
// engine.WithInvalidKeys(engine.InvalidKeyOverflow) runs such calls under the
// default policy instead.
var ErrInvalidKey = policy.ErrInvalidKey

// ErrBreakerOpen is matched (errors.Is) by the error of a call refused by its
// key's circuit breaker (policy.Breaker): before its first attempt, when the
// breaker is open or half-open with every probe place taken, op does not run;
// before a retry, when the breaker is no longer closed, the call ends with the
// attempts it made. A refused call fails at once so that a failing backend is
// left alone to recover; the error's engine.Error.Reason is
// engine.StopBreakerOpen. See docs/breaker.md.
var ErrBreakerOpen = engine.ErrBreakerOpen

// NewDefaultExecutor returns an executor with rego's conservative defaults and no
// options: every key gets policy.Default().
func NewDefaultExecutor() *Executor {
	e, err := engine.New()
	if err != nil {
		// New without options has nothing that can be invalid.
		panic("rego: creating the default executor: " + err.Error())
	}
	return e
}

// NewExecutor returns an executor configured by opts.
func NewExecutor(opts ...Option) (*Executor, error) { return engine.New(opts...) }

var defaultExecutor atomic.Pointer[Executor]

// Default returns the executor used by the package-level functions, creating a
// NewDefaultExecutor on first use. Like every executor it owns background
// goroutines (the timer wheel, the key janitor); a test that checks for leaked
// goroutines should end with rego.SetDefault(nil) and Close what it returns.
func Default() *Executor {
	if e := defaultExecutor.Load(); e != nil {
		return e
	}
	e := NewDefaultExecutor()
	if defaultExecutor.CompareAndSwap(nil, e) {
		return e
	}
	e.Close() // another goroutine installed one first
	return defaultExecutor.Load()
}

// SetDefault makes e the executor of the package-level functions and returns the
// previous one (nil if none was created yet), which the caller may Close. A nil e
// resets to a lazily created default.
func SetDefault(e *Executor) *Executor { return defaultExecutor.Swap(e) }

// Do runs op under the policy of key on the default executor.
func Do(ctx context.Context, key Key, op func(context.Context) error) error {
	return Default().Do(ctx, key, op)
}

// DoWithTimeline is Do, and also returns the call's timeline.
func DoWithTimeline(ctx context.Context, key Key, op func(context.Context) error) (*Timeline, error) {
	return Default().DoWithTimeline(ctx, key, op)
}

// DoValue runs op under the policy of key on the default executor and returns
// the value of the attempt that succeeded.
func DoValue[T any](ctx context.Context, key Key, op func(context.Context) (T, error)) (T, error) {
	return engine.DoValue(Default(), ctx, key, op)
}

// DoValueWithTimeline is DoValue, and also returns the call's timeline.
func DoValueWithTimeline[T any](ctx context.Context, key Key, op func(context.Context) (T, error)) (T, *Timeline, error) {
	return engine.DoValueWithTimeline(Default(), ctx, key, op)
}

// AttemptFromContext reports which attempt of which key ctx belongs to. Use it in
// an op to tag logs and traces with the attempt index.
func AttemptFromContext(ctx context.Context) (observe.AttemptInfo, bool) {
	return observe.AttemptFromContext(ctx)
}

// Permanent marks err as not worth retrying: the default classifier aborts on it.
// errors.Is and errors.As still reach err through the mark.
func Permanent(err error) error { return classify.Permanent(err) }

// RetryAfter marks err as server pushback: the next attempt waits at least d
// (capped by the policy's Retry.MaxRetryAfter).
func RetryAfter(err error, d time.Duration) error { return classify.RetryAfter(err, d) }
