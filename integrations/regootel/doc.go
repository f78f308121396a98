// Package regootel reports rego calls to OpenTelemetry: events and
// attributes on the caller's span, and metrics.
//
// [NewObserver] returns an [observe.Observer]; install it on an engine with
// engine.WithObserver (or rego.NewExecutor(engine.WithObserver(obs))). It
// never starts a span and never changes the context the operation sees: it
// annotates the span already in the caller's context, so the client spans
// that the operation starts (otelhttp, otelgrpc) nest under the caller's
// span, beside rego's attempt events.
//
// [NewAttemptHook] returns an engine.AttemptHook; install it with
// engine.WithAttemptHook, with the observer or without it. It starts a
// "rego.attempt" span per attempt (retries and hedges alike) as a child of
// the caller's span, and hands the operation the attempt's context with
// that span in it, so the client spans the operation starts nest under the
// attempt that made them. An attempt span has the attributes rego.key,
// rego.attempt.index and rego.hedge, and when it ends rego.outcome and
// rego.reason (the classifier's verdict; "hedge_lost" with
// rego.attempt.canceled for a hedge loser rego cancelled, "panic") and an
// error status if the attempt failed on its own or panicked. A loser's span
// ends when its operation returns, which may be after the call returned.
//
// # Traces
//
// When the caller's span is recording, each attempt adds a "rego.attempt"
// event (timestamped at the attempt's end) and, when the call ends, each of
// the timeline's events adds a "rego.<kind>" event ("rego.budget_denied",
// "rego.hedge_fired", "rego.deadline_skip", "rego.pushback",
// "rego.fallback", "rego.panic") at the time it happened, and the call's
// result is set as span attributes (rego.key, rego.outcome, rego.reason,
// rego.attempts, ...). regootel does not set the span's status: the span
// belongs to the caller, who sees the error. A span that is not recording
// costs one check per callback.
//
// # Metrics
//
// Durations are float64 histograms in seconds; counts are int64 counters:
//
//	rego.call.duration     s          rego.key, rego.outcome, rego.reason
//	rego.calls             {call}     rego.key, rego.outcome, rego.reason
//	rego.attempt.duration  s          rego.key, rego.outcome, rego.reason, rego.hedge
//	rego.attempts          {attempt}  rego.key, rego.outcome, rego.reason, rego.hedge
//	rego.hedges.fired      {hedge}    rego.key
//	rego.hedges.won        {hedge}    rego.key
//	rego.budget.denials    {denial}   rego.key, rego.budget
//
// A call's rego.outcome is "success" or "failure"; its rego.reason is the
// classifier's reason for the winning attempt on success and, on failure,
// why rego stopped (engine.Error's Reason: "abort", "exhausted", "budget",
// "deadline", "canceled", "closed", "throttled"; "panic" for a panic). An
// attempt's rego.outcome and rego.reason are the classifier's verdict
// ("retryable", "attempt_timeout", ...; "hedge_lost" for a cancelled hedge
// loser).
//
// Every attribute is low-cardinality: the key is bounded by the engine's key
// guard (engine.WithMaxKeys): calls the engine sent to its overflow worker
// (keys past the bound, and invalid keys under
// engine.WithInvalidKeys(engine.InvalidKeyOverflow); by default an invalid
// key fails the call before it starts) are counted under the one key
// "rego.overflow", while the caller's span keeps their own key. Outcomes and
// reasons are short stable strings, budget names come from the
// configuration. No error text or other per-call value reaches a metric.
// All of a call's measurements, its attempts' included, are made when the
// call ends: only then does the timeline say whether the call ran on the
// overflow worker.
//
// # Cost
//
// Observers run on every call, on the caller's goroutine. The attribute sets
// are built once per (key, outcome, reason, ...) combination and cached
// (bounded; past the bound they are built per call), so a metric update
// costs a cache lookup and the instrument's own work. An instrument that is
// not enabled (a no-op meter provider, a dropping view) is skipped before
// the lookup. docs/otel.md has the benchmark.
package regootel
