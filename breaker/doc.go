// Package breaker is rego's per-key circuit breaker: when a key's backend
// fails most of what is sent to it, stop sending for a while, then try a few
// calls before sending everything again.
//
// # Model
//
// A [Breaker] is in one of three states:
//
//   - Closed: every call is let through. Each attempt's outcome is counted
//     in a sliding window of policy.Breaker.Window (ten buckets of a tenth
//     each). When an attempt fails, at least MinCalls attempts are in the
//     window and failures × 100 >= FailureRate × attempts, the breaker opens.
//   - Open: every call is refused at once, for OpenDuration. The first call
//     after that moves the breaker to half-open.
//   - HalfOpen: up to HalfOpenProbes calls are let through as probes; the
//     others are refused. The first probe that fails opens the breaker again
//     (for another OpenDuration); once HalfOpenProbes probes have succeeded it
//     closes, with an empty window. A probe that ends without an outcome (its
//     caller gave up, it panicked) gives its place back. If the probes have not
//     all reported OpenDuration after the breaker went half-open (a leaked
//     probe, a hung backend), the next call starts a new half-open period, so
//     a breaker can never stay half-open for good.
//
// Each state is an episode object, replaced by compare-and-swap on a
// transition: a result that arrives after its episode ended (an attempt
// admitted while closed that fails once the breaker is open) is ignored, and
// a closed episode starts with a fresh window.
//
// # Protocol
//
// A call asks [Breaker.Allow] before its first attempt and keeps the
// [Ticket]; it reports each attempt's outcome with [Breaker.Record], checks
// [Breaker.State] before further attempts (retries, hedges) and calls
// [Breaker.Release] when it ends. What counts as a failure is the caller's
// choice; the engine counts attempts its classifier calls Retryable.
//
// # Concurrency and cost
//
// A Breaker belongs to one key: the engine keeps it in the key's policy
// snapshot, shared by every call on the key, and keeps it across a policy
// reload that leaves its configuration equal. No goroutine owns its state:
// the episode in force is an atomic pointer that any caller may replace by
// compare-and-swap, and its counters are atomics.
//
// A Breaker is safe for concurrent use and lock-free. Allow and Record on a
// closed breaker do not allocate: an atomic load, one clock read and one
// compare-and-swap on the current bucket (plus a sum of the window when the
// attempt failed). Only transitions allocate (the new episode). It starts
// no goroutine and never waits.
//
// This package imports only policy and the standard library.
package breaker
