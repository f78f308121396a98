// Package scheduler is rego's shared timer wheel: one goroutine per
// Scheduler runs many short timers (attempt timeouts, backoff sleeps, hedge
// triggers) that call sites schedule and cancel in O(1), without locks and
// without allocating.
//
// # Model
//
// A Scheduler has three pieces of state, each with one owner:
//
//   - The wheel (slots and occupancy bitmaps of a hierarchical hashed
//     timing wheel) is owned by the wheel goroutine alone. No call site
//     ever reads or writes a slot, so the wheel needs no lock.
//   - The mailbox is an intrusive lock-free stack (a Treiber stack): call
//     sites push nodes onto it with a compare-and-swap on its head; the
//     wheel goroutine takes everything at once with a single swap and files
//     the nodes into slots. The head sits on a cache line of its own.
//   - Each node's state word (generation and state, one atomic uint64) is
//     shared: Handle.Stop and the wheel both compare-and-swap it, and
//     exactly one of them wins.
//
// Besides these, call sites read and sometimes lower an atomic wake target,
// the tick by which the wheel goroutine will next look at its mailbox (0
// while it is awake). The wheel publishes its target before it sleeps and
// then drains the mailbox once more; a call site pushes, then reads the
// target. So every node is either seen by the wheel before it sleeps or
// pushed by a call site that sees the target and wakes the wheel when its
// deadline is earlier: no wake-up is lost, and none is sent while the
// wheel is awake or already due to wake in time.
//
// # Life of a node
//
//  1. Schedule takes a node from the free chain cached for its P (a
//     sync.Pool), bumps its generation, marks it pending, computes its
//     deadline in ticks, pushes it onto the mailbox, and returns
//     Handle{node, generation}, a plain value.
//  2. If the deadline is earlier than the wake target, the call site lowers
//     the target and sends a token on a one-slot wake channel (never
//     blocking). Otherwise it does nothing more: the wheel is awake, or
//     will wake before the deadline anyway and drain the mailbox then.
//     About one push in 256 also wakes the wheel: that bounds the mailbox
//     of a wheel sleeping towards a far deadline, and returns stopped
//     nodes for reuse before the free chains run dry. If the previous such
//     wake-up is still unconsumed, the wheel goroutine is starved of CPU
//     (every P busy with call sites that never block), and the call site
//     yields its P (runtime.Gosched) instead: backpressure, never a wait.
//  3. The wheel goroutine drains the mailbox, discarding nodes already
//     stopped, running any whose deadline has passed, and filing the rest
//     in the slot for their deadline.
//  4. As the clock moves, the wheel jumps from one occupied slot to the
//     next. A slot at a higher level cascades its nodes to lower levels; a
//     level-0 slot is due: for each node the wheel tries pending -> fired;
//     if that wins, the node is recycled and the task runs; if Stop won,
//     the node is just recycled. Recycled nodes are linked into a chain
//     owned by the wheel goroutine and handed back to call sites 64 at a
//     time (and whenever the wheel goes to sleep), so a node crosses
//     between processors once per trip, not once per pool operation.
//  5. Handle.Stop tries pending -> stopped for the Handle's generation. A
//     node recycled for a later task has a later generation, so a stale
//     Stop can never cancel someone else's task (no ABA).
//
// # Why lazy cancellation
//
// Removing a node from a slot would need a doubly linked list that call
// sites and the wheel goroutine both modify, and so a lock or a much
// subtler lock-free list. Flipping one atomic word instead makes Stop a
// single compare-and-swap that never contends with the wheel, and the
// wheel drops the node when it meets it: at once when it is still in the
// mailbox, otherwise when its slot comes up (a cascade or its deadline).
// The cost is memory: a stopped timer keeps its node and task reachable
// until then, at most until its original deadline. A node dropped from the
// mailbox leaves its deadline behind as the wheel's next wake-up (if it is
// the earliest), so that a stream of schedule-then-stop calls on an
// otherwise idle wheel does not wake it once per call.
//
// # Time
//
// Time is counted in ticks (WithTick, default 1 ms) from the scheduler's
// creation. A deadline is rounded up to a tick boundary and is at least the
// next one, so a task never runs early and a delay below one tick fires on
// the next tick. The wheel goroutine sleeps on a Clock timer until the
// earliest occupied slot (and not at all when nothing is pending, so an
// idle scheduler costs no wake-ups); it wakes, reads the clock, and runs
// everything due, so a task runs at most about one tick late unless the
// machine is overloaded. The Clock is injected: tests use FakeClock, or
// SystemClock inside a testing/synctest bubble (the wheel only ever blocks
// on channels, so the bubble sees it durably blocked).
//
// # Coarse timers
//
// Reading the clock is most of what Schedule costs. ScheduleCoarseNode skips it
// while the Scheduler is busy: the wheel goroutine then polls (it wakes at
// every tick, and says so in an atomic flag), and a call site pushes a
// relative node that carries its delay. The wheel counts the delay from a
// clock read made after it takes the node from the mailbox, at most about
// one tick after the call, so a coarse task never runs early and runs at
// most about two ticks late. The wheel polls only while coarse nodes
// arrive, and stops a tick after the last one. When it does not poll, the
// call site computes the deadline as Schedule does. If the wheel stops
// polling while a call site pushes, the call site sees it (the wheel stores
// the flag, then reads the mailbox; the call site pushes, then reads the
// flag) and wakes it.
//
// The wheel polls only on SystemClock, or on a PollingClock that asks for
// it. On other clocks (a FakeClock, say) when the wheel takes a node
// depends on goroutine scheduling, which must not move a deadline, so a
// coarse task runs exactly when Schedule's would: at the first tick
// boundary at or after the call plus its delay. On SystemClock it runs then
// or up to one tick later. Neither runs early.
//
// ScheduleCoarseNode also skips the pools: its node is a TimerNode that the
// caller embeds in a struct it allocates anyway, fresh in the caller's
// cache, where a pooled node was last written by the wheel goroutine. The
// wheel never recycles a TimerNode. rego arms the first hedge trigger of every
// hedged round this way.
//
// Tasks run one at a time on the wheel goroutine: they must be short and
// must not block, or every other timer of the Scheduler runs late.
package scheduler
