// Package stress holds rego's randomized stress tests; it has no API of its
// own, only tests (go test ./stress).
//
// # Model
//
// Each scenario runs inside a testing/synctest bubble, so time is virtual:
// seconds of backoffs, timeouts and hedge delays cost microseconds, and
// "within one scheduler tick" can be checked exactly. A scenario draws, from
// its seed, an engine with several keys and random policies (1-5 attempts,
// every jitter kind, attempt and overall timeouts, 0-3 hedges on a fixed or
// percentile trigger, shared budgets among them a budget.Concurrency used for
// both retries and hedges), then lets a few dozen callers loose. Each call
// picks a key, a call shape (Do, DoWithTimeline, DoValue, DoValueWithTimeline)
// and a caller context (none, WithTimeout, WithCancel cancelled at a random
// time, cancelled before the call); its op, seeded by the call and the
// attempt index, succeeds, fails retryably, permanently or with pushback, or
// panics, after a random virtual latency during which it honours its ctx.
//
// Everything observable is recorded — each op invocation (start, end,
// AttemptInfo, ctx deadline, result), each observer callback (keyed by a call
// id carried in the caller's ctx), what each call returned — and checked once
// every call and every op goroutine has ended: the invariants of DESIGN.md
// (cancellation is prompt and starts nothing, attempt deadlines never pass the
// call's and are enforced, no op outlives its call, observer order, budget
// conservation) and the consistency of errors, timelines and events with what
// actually ran. TestChecksCatchViolations makes sure the checks are not
// vacuous, by sabotaging the op.
//
// # Deterministic cases
//
// hedge_edges_test.go and cases_test.go pin, with small deterministic tests,
// the cases the random scenarios reach only by chance (a hedge's result racing
// the round's end, Close or the deadline during a hedged round).
//
// # Flags
//
//	-stress.iterations=N  seeded scenarios per test (default 8)
//	-stress.seed=S        first seed (default 1); a failure prints the seed and
//	                      the command that replays it
//	-stress.scale=F       multiplies the calls per scenario
//	-stress.v             log a summary of every scenario
package stress
