// Package budget keeps retries and hedges from turning a slow or failing
// backend into a retry storm.
//
// # Model
//
// A [Budget] answers one question, "may this call spend one more attempt?",
// without ever waiting: [Budget.TryAcquire] returns at once, and a denial
// means the call returns its last error (or simply does not hedge). The engine
// drives every budget through the same three-step protocol:
//
//  1. After each attempt ends, Record(first, ok) tells the budget what
//     happened: first is true for a call's first attempt, ok is true when the
//     backend accepted the attempt (a success, or an answer that is not worth
//     retrying). Every finished attempt is recorded in the call's retry
//     budget, and in its hedge budget too when the policy hedges and the two
//     are not a pair sharing one count of first attempts
//     (NewRatioPair, the default), which would count it twice.
//  2. Before a retry or a hedge starts, TryAcquire asks for a permit.
//  3. When an attempt that was granted a permit ends, Release is called
//     exactly once.
//
// Four kinds implement the interface:
//
//   - [Ratio], the Finagle RetryBudget: retries may be Percent% of the first
//     attempts seen in a sliding window, plus a floor of MinPerSecond per
//     second so quiet keys can still retry. [DefaultRetry] (10%, 10/s, 10 s)
//     and [DefaultHedge] (10%, 1/s, 10 s) are what a key gets when its policy
//     names no budget.
//   - [TokenBucket], gRPC retry throttling: every failed attempt costs one
//     token, every success earns TokenRatio, and retries are allowed while the
//     bucket is more than half full.
//   - [Concurrency], the Envoy max-retries circuit breaker: at most Max
//     retries or hedges in flight at once.
//   - [Adaptive], the client-side throttle of Google's SRE book: it rejects
//     with probability max(0, (requests − K·accepts)/(requests+1)) over a
//     sliding window. It also implements [Admitter], so a policy may let it
//     gate first attempts too.
//
// A budget shared by many keys is registered under a name with
// engine.WithBudget; a policy refers to it by that name (retry_budget,
// hedge_budget).
//
// # Who owns what
//
// A budget owns its counters and nothing else: it starts no goroutine and
// holds no reference to callers. It is shared by every call site of a key (or
// of many keys, when registered under a name), so every method is safe for
// concurrent use, lock-free (atomic loads, adds and compare-and-swap loops; no
// mutex), allocation-free, and never blocks. Configuration is copied at
// construction and immutable afterwards.
//
// # Time
//
// Time-dependent kinds ([Ratio], [Adaptive]) read one injected [Clock] and
// never sleep. A nil Clock means the system clock, read as time.Since of the
// budget's creation (one monotonic read, half the cost of time.Now). A caller
// that already holds the current time can pass it through the [Timed] twins
// (TryAcquireAt, RecordAt) and skip the clock read altogether.
//
// A window is a fixed ring of ten buckets, each Window/10 wide; an event is
// counted from the moment it is recorded until its bucket leaves the ring,
// that is for between 9/10 of the window and the whole window. Epochs never
// go back: a clock that steps backwards is treated as standing still until it
// catches up.
//
// # Consistency
//
// Each bucket counter is one 64-bit word holding both the bucket's lap (which
// window turn it belongs to) and its count, updated by compare-and-swap. A
// stale bucket is therefore reset exactly once, by whoever first writes to it
// in a new lap, and no event is ever lost to a reset or counted twice (a
// writer that stalled for a whole window counts into the bucket that now
// holds its slot; a bucket saturates at 2^28-1 events rather than overflow;
// and the lap field lasts 2^36 windows, ~21 years at the 10 ms minimum). What is
// not atomic is a sum over the ten buckets: a reader sees each bucket at a
// slightly different instant, so a count read concurrently with Records may be
// off by the events in flight. Decisions that must not overshoot are made by a
// compare-and-swap conditioned on the sum (a [Ratio] withdrawal, a
// [Concurrency] permit), so concurrent TryAcquires never overdraw a Ratio
// within one bucket; only when a bucket boundary passes during a TryAcquire
// can a racer still on the old bucket count deposits that just expired, which
// lets at most one extra retry per such racer through. The [Concurrency]
// in-flight count is exact: it never goes below zero and never exceeds Max.
// In a single goroutine every kind is exact and deterministic, which is how
// the tests compare each one with a mutex-based reference implementation.
package budget
