// Package hedge decides when a hedge attempt should fire.
//
// A hedge is a second (or third…) copy of a call started while the first one
// is still running, so that one slow backend does not make the whole call
// slow. Firing too early doubles the load; firing too late buys nothing. This
// package holds the two pieces that pick the moment:
//
//   - [Trigger] turns a key's recent latency into a delay. [Fixed] always
//     answers the same delay; [Percentile] answers the key's current latency
//     at a percentile (say p95), bounded by [Min, Max], and falls back to a
//     fixed delay until it has seen enough samples. [TriggerFor] builds the
//     right one from a [policy.Hedge].
//   - [Tracker] is the latency memory behind [Percentile]: a windowed HDR
//     histogram that forgets samples older than Windows × Window.
//
// # Ownership
//
// A Tracker is NOT safe for concurrent use. In rego each key has one worker
// goroutine that owns the key's Tracker: call sites post their latency samples
// to the worker's mailbox, the worker records them, asks the Trigger for the
// new hedge delay once per drained batch and publishes the delay in the key's
// snapshot. Call sites never touch the Tracker, so it needs no lock and no
// atomics. Fixed and Percentile are plain values and are safe to share.
//
// # Time
//
// Nothing here reads the clock or starts a goroutine or timer: every method
// that depends on time takes now, and windows rotate when a later now is
// seen. Tests (and the worker) drive it with whatever clock they own.
//
// # Windows and memory
//
// The Tracker keeps Windows histograms as suffix sums: the first holds the
// current window, the second the current and the previous one, …, the last
// all Windows windows. A sample is recorded into every one of them (Windows
// cheap increments); rotating drops the last, shifts the others down and
// reuses the dropped one, cleared, as the new current window. So the
// histogram a quantile is read from is always complete: no merge on read and
// no extra "merged" histogram in memory.
//
// Values are stored in microseconds with 2 significant figures by default, so
// one histogram over 1µs..60s is 2560 int64 counters (20 KiB) and a default
// Tracker (3 windows) about 61 KiB: see [Tracker.MemoryBytes] and
// BENCHMARKS.md for the measured heap figure.
package hedge
