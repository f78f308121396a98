package scheduler_test

import (
	"cmp"
	"container/heap"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/regoresilience/rego/scheduler"
)

// refScheduler is the obviously correct model the wheel is checked against:
// a container/heap of deadlines in ticks. advanceTo(n) runs, in deadline
// order, every live entry due by n; an entry whose deadline had already been
// passed when it was scheduled runs at the tick of the advance that finds it.
type refScheduler struct {
	h     refHeap
	live  map[int]*refEntry // scheduled, not run, not stopped
	now   int64             // last tick advanced to
	fired []firing
}

type refEntry struct {
	id  int
	due int64
}

type firing struct {
	id   int
	tick int64
}

type refHeap []*refEntry

func (h refHeap) Len() int { return len(h) }
func (h refHeap) Less(i, j int) bool {
	return cmp.Or(cmp.Compare(h[i].due, h[j].due), cmp.Compare(h[i].id, h[j].id)) < 0
}
func (h refHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *refHeap) Push(x any)   { *h = append(*h, x.(*refEntry)) }
func (h *refHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	*h = old[:len(old)-1]
	return e
}

func newRef() *refScheduler { return &refScheduler{live: map[int]*refEntry{}} }

func (r *refScheduler) schedule(id int, due int64) {
	e := &refEntry{id: id, due: due}
	r.live[id] = e
	heap.Push(&r.h, e)
}

func (r *refScheduler) stop(id int) bool {
	if _, ok := r.live[id]; !ok {
		return false
	}
	delete(r.live, id) // the heap entry is skipped when popped
	return true
}

func (r *refScheduler) advanceTo(n int64) {
	for r.h.Len() > 0 && r.h[0].due <= n {
		e := heap.Pop(&r.h).(*refEntry)
		if r.live[e.id] != e {
			continue
		}
		delete(r.live, e.id)
		r.fired = append(r.fired, firing{id: e.id, tick: max(e.due, r.now)})
	}
	r.now = max(r.now, n)
}

// earliest returns the earliest live deadline.
func (r *refScheduler) earliest() (int64, bool) {
	for r.h.Len() > 0 {
		if e := r.h[0]; r.live[e.id] == e {
			return e.due, true
		}
		heap.Pop(&r.h)
	}
	return 0, false
}

// recordTask records the wheel tick it runs at. It runs on the goroutine
// driving the wheel, which is the only one reading fired.
type recordTask struct {
	id    int
	s     *scheduler.Scheduler
	fired *[]firing
}

func (t *recordTask) Run() { *t.fired = append(*t.fired, firing{id: t.id, tick: t.s.WheelNow()}) }

// expectedDue is the deadline rule, computed independently of the package:
// ceil((elapsed+d)/tick), and at least the tick after elapsed's.
func expectedDue(elapsed, d, tick time.Duration) int64 {
	d = max(d, 0)
	due := (elapsed + d) / tick
	if (elapsed+d)%tick != 0 {
		due++
	}
	return max(int64(due), int64(elapsed/tick)+1)
}

// randDelay returns a delay spread over every level of the wheel: zero and
// negative, below a tick, exact multiples, just past one or several
// rotations of level 0, and up to 64^7 ticks.
func randDelay(rng *rand.Rand, tick time.Duration) time.Duration {
	switch rng.IntN(10) {
	case 0:
		return -time.Duration(rng.IntN(1000))
	case 1:
		return time.Duration(rng.Int64N(int64(tick)))
	case 2:
		return tick * time.Duration(rng.IntN(200))
	case 3:
		return tick*64*time.Duration(1+rng.IntN(4)) + time.Duration(rng.IntN(3)-1)
	default:
		return time.Duration(rng.Int64N(spanTicks(tick, 1+rng.IntN(7), 58)))
	}
}

// spanTicks returns 64^levels ticks in nanoseconds, capped at 2^capBits.
func spanTicks(tick time.Duration, levels, capBits int) int64 {
	ticks := int64(1) << (6 * levels)
	return min(ticks, (int64(1)<<capBits)/int64(tick)) * int64(tick)
}

// randAdvance returns how far to move the clock: often to exactly the next
// deadline or a nanosecond short of it, else a random jump across levels.
func randAdvance(rng *rand.Rand, tick time.Duration, untilNext time.Duration, haveNext bool) time.Duration {
	switch k := rng.IntN(10); {
	case haveNext && k < 3:
		return untilNext
	case haveNext && k < 4:
		return max(untilNext-1, 0)
	case k < 5:
		return time.Duration(rng.Int64N(int64(tick)))
	case k < 7:
		return tick * time.Duration(rng.IntN(70))
	default:
		return time.Duration(rng.Int64N(spanTicks(tick, 1+rng.IntN(6), 56)))
	}
}

// TestWheelMatchesHeap verifies that the wheel, driven synchronously through
// Step, runs the same tasks at the same ticks as the heap reference on
// random schedules: delays across every level (including more than one full
// rotation of level 0), deadlines already passed, random Stops (including
// repeated Stops and Stops of handles whose node was recycled) and random
// clock advances from sub-tick to multi-year jumps.
func TestWheelMatchesHeap(t *testing.T) {
	ticks := []time.Duration{time.Millisecond, 3 * time.Millisecond, time.Microsecond, 7 * time.Nanosecond}
	for seed := range uint64(40) {
		tick := ticks[seed%uint64(len(ticks))]
		t.Run(fmt.Sprintf("seed=%d/tick=%v", seed, tick), func(t *testing.T) {
			runWheelVsHeap(t, seed, tick, 3000)
		})
	}
}

func runWheelVsHeap(t *testing.T, seed uint64, tick time.Duration, ops int) {
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	start := time.Unix(1_700_000_000, rng.Int64N(1e9)) // not tick-aligned
	clk := scheduler.NewFakeClock(start)
	s, err := scheduler.NewManual(scheduler.WithClock(clk), scheduler.WithTick(tick))
	if err != nil {
		t.Fatal(err)
	}
	ref := newRef()
	var got []firing
	type sched struct {
		h  scheduler.Handle
		at time.Time // when it was scheduled
		d  time.Duration
	}
	var all []sched
	elapsed := func() time.Duration { return clk.Now().Sub(start) }

	var nFired, nStopped, maxLevelTicks int
	compare := func(when string) {
		t.Helper()
		nFired += len(got)
		for i := 1; i < len(got); i++ {
			if got[i].tick < got[i-1].tick {
				t.Fatalf("%s: wheel ran id %d at tick %d after id %d at tick %d", when, got[i].id, got[i].tick, got[i-1].id, got[i-1].tick)
			}
		}
		for _, f := range got {
			if sc := all[f.id]; f.tick < int64(0) || start.Add(time.Duration(f.tick)*tick).Before(sc.at.Add(sc.d)) {
				t.Fatalf("%s: id %d ran early: tick %d, scheduled at %v + %v", when, f.id, f.tick, sc.at.Sub(start), sc.d)
			}
		}
		byTick := func(a, b firing) int { return cmp.Or(cmp.Compare(a.tick, b.tick), cmp.Compare(a.id, b.id)) }
		slices.SortFunc(got, byTick)
		slices.SortFunc(ref.fired, byTick)
		if !slices.Equal(got, ref.fired) {
			t.Fatalf("%s: wheel ran %v, reference ran %v", when, got, ref.fired)
		}
		got, ref.fired = got[:0], ref.fired[:0]
	}

	step := func(when string) {
		t.Helper()
		next := s.Step()
		ref.advanceTo(int64(elapsed() / tick))
		compare(when)
		if err := s.CheckWheel(); err != nil {
			t.Fatalf("%s: %v", when, err)
		}
		if s.WheelNow() != int64(elapsed()/tick) {
			t.Fatalf("%s: wheel at tick %d, clock at tick %d", when, s.WheelNow(), elapsed()/tick)
		}
		// The wheel must never plan to sleep past a live deadline.
		if due, ok := ref.earliest(); ok && next > due {
			t.Fatalf("%s: wheel would sleep until tick %d, a task is due at %d", when, next, due)
		}
		if s.Filed() == 0 && next != s.StoppedDue() {
			t.Fatalf("%s: empty wheel sleeps until %d, not its stoppedDue deadline %d", when, next, s.StoppedDue())
		}
		if next <= s.WheelNow() {
			t.Fatalf("%s: wheel at %d would sleep until %d", when, s.WheelNow(), next)
		}
	}

	for op := range ops {
		switch k := rng.IntN(100); {
		case k < 45: // Schedule
			id := len(all)
			d := randDelay(rng, tick)
			h := s.Schedule(d, &recordTask{id: id, s: s, fired: &got})
			all = append(all, sched{h: h, at: clk.Now(), d: d})
			due := expectedDue(elapsed(), d, tick)
			maxLevelTicks = max(maxLevelTicks, int(due-int64(elapsed()/tick)))
			ref.schedule(id, due)
		case k < 48: // a deadline the wheel has already passed
			id := len(all)
			due := rng.Int64N(s.WheelNow() + 1)
			h := s.PushAt(due, &recordTask{id: id, s: s, fired: &got})
			all = append(all, sched{h: h, at: start.Add(time.Duration(due) * tick)})
			ref.schedule(id, due)
		case k < 65 && len(all) > 0: // Stop, maybe twice, maybe long after it ran
			id := rng.IntN(len(all))
			if rng.IntN(3) == 0 {
				id = len(all) - 1 - rng.IntN(min(len(all), 5))
			}
			w, r := all[id].h.Stop(), ref.stop(id)
			if w != r {
				t.Fatalf("op %d: Stop(id %d) = %v, reference says %v", op, id, w, r)
			}
			if w {
				nStopped++
			}
		case k < 75: // a Step without moving the clock: drains the mailbox only
			step(fmt.Sprintf("op %d (step)", op))
		default: // move the clock, then let the wheel catch up
			due, ok := ref.earliest()
			var until time.Duration
			if ok {
				until = max(start.Add(time.Duration(due)*tick).Sub(clk.Now()), 0)
			}
			// Keep the clock well inside the scheduler's range (it saturates
			// about 73 years after its start).
			clk.Advance(min(randAdvance(rng, tick, until, ok), max(1<<60-elapsed(), until)))
			step(fmt.Sprintf("op %d (advance)", op))
		}
	}
	// Flush: run everything still pending.
	for i := 0; ; i++ {
		due, ok := ref.earliest()
		if !ok {
			break
		}
		clk.Advance(start.Add(time.Duration(due) * tick).Sub(clk.Now()))
		step(fmt.Sprintf("flush %d", i))
	}
	step("final")
	clk.Advance(time.Duration(1) << 61)
	if next := s.Step(); next != scheduler.NoTarget && s.Filed() == 0 {
		t.Fatalf("empty wheel still sleeps until %d", next)
	}
	if len(ref.live) != 0 {
		t.Fatalf("reference still has %d live entries", len(ref.live))
	}
	if nFired+nStopped != len(all) {
		t.Fatalf("%d scheduled, %d ran, %d stopped", len(all), nFired, nStopped)
	}
	t.Logf("%d scheduled, %d ran, %d stopped, longest delay %d ticks", len(all), nFired, nStopped, maxLevelTicks)
}
