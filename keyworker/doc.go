// Package keyworker holds rego's per-key actors.
//
// # Model
//
// Every policy key that a call uses gets a Worker from a Pool: created on first
// use through a lock-free map, capped at Config.MaxKeys (later keys share one
// overflow worker), and evicted once unused for Config.IdleTimeout (the next
// call creates a fresh one).
//
// A Worker publishes an immutable Snapshot — the key's effective policy and
// version, its hedge trigger and current hedge delay, its budgets — through an
// atomic pointer that call sites read with one load. Call sites never wait for a
// worker: they read the snapshot, use the budgets (lock-free atomics), and Post
// samples of finished attempts into a bounded lock-free mailbox; when it is full
// the sample is dropped and counted.
//
// # Ownership
//
//   - The Pool owns the map, the janitor goroutine and every worker goroutine;
//     Close ends them all and waits.
//   - A worker goroutine exists only for keys whose policy learns from latency
//     (a percentile hedge trigger). It alone touches the key's HDR latency
//     tracker; it drains the mailbox, lingers one scheduler tick between
//     bursts (so a hot key's posters do not have to wake it), parks when a tick
//     brings nothing (no idle ticking), and republishes the snapshot when the
//     hedge delay moves. Keys without such a policy need no goroutine: their
//     state is the snapshot and the budgets, both safe for call sites.
//   - Snapshots are replaced, never modified: call sites publish on a policy
//     change; the worker publishes delay updates with compare-and-swap so that a
//     concurrent policy change is never lost.
//
// Memory per key (TestMemoryPerKey, 10,000 keys, heap plus stacks): about 2.3 KiB
// without latency-aware hedging, about 57 KiB with it (the tracker's three HDR
// windows dominate).
package keyworker
