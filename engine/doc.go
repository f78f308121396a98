// Package engine is rego's executor: the attempt loop, hedging orchestration and
// the options that wire policies, classifiers, budgets, observers and the clock.
//
// # One call
//
// Do looks up the key's worker (a cache indexed by the addresses of the key's
// strings, else one lock-free map load), reads the key's resolved policy
// published on it (one atomic load; resolved again only when the provider
// publishes a new policy version), and runs the op in the caller's goroutine
// under an attempt context that carries AttemptInfo and the attempt's
// deadline. A key that fails Key.Validate is refused before that (see
// WithInvalidKeys). The result is
// classified (Success, Retryable, Abort); a retry first checks the deadline (a
// retry whose backoff would end past it is not started), then the key's circuit
// breaker, if its policy has one (no retry unless it is closed), then the retry
// budget (never a wait), then sleeps a jittered backoff on the shared timer wheel — the
// caller's context and Close always win.
//
// The success path starts no goroutine, takes no lock, does not wait for any
// worker and allocates once: the attempt context. Without an attempt timeout
// or hedging that context is 48 bytes (the caller's context and the key; the
// AttemptInfo is computed when asked for); otherwise its done channel and
// deadline timer are armed only if the op asks for ctx.Done, and an op that
// never does costs neither.
//
// # Attempt hook
//
// WithAttemptHook installs an AttemptHook around every attempt: it wraps
// the attempt's context for the op (tracing puts a per-attempt span there,
// so the op's client spans nest under its attempt) and is told, exactly
// once, how each attempt ended, in the goroutine that ran the op (a hedge
// loser's when its op returns). Unset, it costs the call one nil check;
// set, calls take the attempt loop, whose attempt context is 128 bytes
// instead of 48, plus what the hook itself costs.
//
// # Hedging
//
// With Hedge.MaxHedges > 0, each round's primary attempt still runs in the
// caller's goroutine; the first hedge is armed on the wheel at the key's
// current hedge delay. If the primary settles first, the round costs one extra
// allocation and no goroutine. If the timer fires, the hedge runs in a goroutine
// of its own, charged to the hedge budget; the first success wins, an Abort ends
// the call, a retryable failure fires the next hedge at once (as gRPC's A6
// does), and losers are cancelled through their context and recorded as such.
// When every attempt of a round fails, the retry policy decides about the next
// round: MaxAttempts counts rounds, MaxHedges bounds the hedges of each round.
// A hedged primary that ignores its context delays the caller until it returns:
// ops must honour ctx (they must anyway for timeouts to work).
//
// # Where each step is
//
//   - keys.go: the key's worker and resolved policy (keyPolicy), the
//     classifier and budget handles it holds; invalidkeys.go: the warnings
//     of InvalidKeyOverflow.
//   - call.go: the entry (run), the fast path of a first attempt, the panic
//     guards around op and classifier.
//   - loop.go: the attempt loop (rounds, the stop decisions, the timeline's
//     start and end) and the retry decision (retryWait: backoff and
//     pushback, deadline, breaker, retry budget); backoff.go, sleep.go: the
//     jittered backoff and the wait on the wheel.
//   - attempt.go: the attempt's context (deadline, cancellation, AttemptInfo);
//     attempthook.go: the optional hook around each attempt and its end.
//   - hedgeround.go: one hedged round in the caller's goroutine, and its
//     coordinator; hedge.go: launching, running and cancelling hedges.
//   - recorder.go: the timeline and the observer calls.
//   - breaker.go: the key's circuit breaker (package breaker) and the five
//     hooks by which the steps above consult it.
//
// # Ownership
//
// An Engine's configuration is read-only after New. Per-key state (the
// resolved policy, budgets, latency tracker) belongs to the per-key workers
// of the internal keyworker pool; the timer wheel to the scheduler. A call's timeline and observer callbacks are produced by the
// caller's goroutine only, which is what keeps them in order and never
// concurrent for one call. Hedge goroutines are owned by their round and end
// when their op returns.
//
// # Errors
//
// A failed call returns *Error, which wraps the last attempt's error and, when
// the caller's context or Close ended the call, that cause too, so errors.Is
// works for both.
//
// An op that panics has its timeline and observers finalized, then the panic
// is re-raised in the caller's goroutine — also when it happened in a hedge
// goroutine, provided it reaches the caller's goroutine before the result that
// decides the round. A later panic (typically in a loser that rego cancelled,
// after its call returned) is not re-raised: it is logged at Error level with
// its stack, and the call's result stands. A classifier or budget that panics
// in the caller's goroutine is handled the same way, and an op that calls
// runtime.Goexit there has its call finalized before the goroutine exits; a
// hedged round left that way cancels its hedges and stops its timers. A hedge
// budget that panics when asked for a permit (on the timer wheel or in a
// hedge goroutine) is logged and counts as a refusal. A panicking observer is
// not called again; its panic goes on unchanged.
package engine
