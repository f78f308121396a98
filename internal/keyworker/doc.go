// Package keyworker holds rego's per-key actors. It is internal: only the
// engine uses it, and its API follows the engine's needs.
//
// # Model
//
// Every policy key that a call uses gets a Worker from a Pool: created on first
// use through a lock-free map, capped at Config.MaxKeys (later keys share one
// overflow worker), and evicted once unused for Config.IdleTimeout (the next
// call creates a fresh one).
//
// A Worker holds the owner's snapshot of the key (for the engine: the
// resolved policy, classifier and budget handles) behind an atomic pointer
// that call sites read with one load, and the key's own default budgets.
// Call sites never wait for a worker: they read the snapshot, use the
// budgets (lock-free atomics), and Post the latencies of finished attempts
// into a bounded lock-free mailbox; when it is full the sample is dropped
// and counted.
//
// # Ownership
//
//   - The Pool owns the map, the janitor goroutine and every worker goroutine;
//     Close ends them all and waits.
//   - A worker goroutine exists only for keys whose policy learns from latency
//     (a percentile hedge trigger, given with Track). It alone touches the
//     key's HDR latency tracker; it drains the mailbox, lingers one scheduler
//     tick between bursts (so a hot key's posters do not have to wake it),
//     parks when a tick brings nothing (no idle ticking), and publishes the
//     learned hedge delay (one atomic pointer it alone writes) when it moves.
//     Keys without such a policy need no goroutine: their state is the
//     snapshot and the budgets, both safe for call sites.
//   - The snapshot is written by call sites only (on a policy change); the
//     learned delay by the worker goroutine only. Neither is ever merged into
//     the other.
//
// Memory per key (TestMemoryPerKey, 10,000 keys, heap plus stacks, with a
// stand-in snapshot of a few bytes): about 2.3 KiB without latency-aware
// hedging, about 56 KiB with it (the tracker's three HDR windows dominate).
// The engine's snapshot of a key (its resolved policy) adds about 0.4 KiB.
package keyworker
