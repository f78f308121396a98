package scheduler_test

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/regoresilience/rego/scheduler"
)

// timeTask records when it ran. Tests read at only after synctest.Wait.
type timeTask struct {
	at  time.Time
	now func() time.Time
}

func (t *timeTask) Run() { t.at = t.now() }

// TestSynctestSystemClock verifies the wheel goroutine with SystemClock in a
// testing/synctest bubble: every task runs exactly at its rounded-up tick
// boundary (the bubble's clock jumps straight to each timer, so "at most one
// tick late" shows up as "exactly on time"), stopped tasks never run, and
// Close leaves no goroutine behind.
func TestSynctestSystemClock(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newSystem(t)
		start := time.Now()
		tick := s.Tick()
		rng := rand.New(rand.NewPCG(1, 2))
		type entry struct {
			task    *timeTask
			h       scheduler.Handle
			due     time.Time
			stopped bool
		}
		var all []*entry
		for range 300 {
			advance(time.Duration(rng.Int64N(int64(3 * time.Millisecond))))
			d := randDelay(rng, tick)
			d = min(d, time.Hour) // keep the bubble's sleep short
			e := &entry{task: &timeTask{now: time.Now}}
			e.due = start.Add(time.Duration(expectedDue(time.Since(start), d, tick)) * tick)
			e.h = s.Schedule(d, e.task)
			all = append(all, e)
			if rng.IntN(5) == 0 {
				x := all[rng.IntN(len(all))]
				x.stopped = x.h.Stop() || x.stopped
			}
		}
		advance(2 * time.Hour)
		synctest.Wait()
		ran := 0
		for i, e := range all {
			if !e.task.at.IsZero() {
				ran++
			}
			switch {
			case e.stopped && !e.task.at.IsZero():
				t.Errorf("task %d ran after a successful Stop", i)
			case !e.stopped && !e.task.at.Equal(e.due):
				t.Errorf("task %d ran at %v, due at %v", i, e.task.at.Sub(start), e.due.Sub(start))
			}
		}
		if ran < len(all)/2 {
			t.Errorf("only %d of %d tasks ran", ran, len(all))
		}
	})
}

// TestSynctestEarlierTimerWakesWheel verifies that a timer earlier than the
// one the wheel sleeps towards wakes it, and that later ones wait in the
// mailbox without being lost.
func TestSynctestEarlierTimerWakesWheel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newSystem(t)
		start := time.Now()
		far, near, later := &timeTask{now: time.Now}, &timeTask{now: time.Now}, &timeTask{now: time.Now}
		s.Schedule(time.Hour, far)
		synctest.Wait() // the wheel sleeps towards the hour
		s.Schedule(5*time.Millisecond, near)
		s.Schedule(30*time.Minute, later) // no wake-up needed
		advance(2 * time.Hour)
		synctest.Wait()
		for name, c := range map[string]struct {
			task *timeTask
			want time.Duration
		}{"near": {near, 5 * time.Millisecond}, "later": {later, 30 * time.Minute}, "far": {far, time.Hour}} {
			if got := c.task.at.Sub(start); got != c.want {
				t.Errorf("%s ran at %v, want %v", name, got, c.want)
			}
		}
	})
}

// TestSynctestIdleArmsNoTimer verifies the wheel does not tick when nothing
// is pending: once every task has run (or its stopped node's slot has
// passed), the wheel's FakeClock timer is disarmed.
func TestSynctestIdleArmsNoTimer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		clk := scheduler.NewFakeClock(epoch)
		s, err := scheduler.New(scheduler.WithClock(clk))
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		synctest.Wait()
		if clk.Timers() != 0 {
			t.Fatal("new scheduler armed a timer")
		}
		task := &countTask{}
		s.Schedule(3*time.Millisecond, task)
		h := s.Schedule(10*time.Second, task)
		synctest.Wait()
		if clk.Timers() != 1 {
			t.Fatalf("%d timers armed, want 1", clk.Timers())
		}
		h.Stop() // lazily: its node stays filed until its slot comes
		for range 100 {
			clk.Advance(time.Second)
			synctest.Wait()
		}
		if clk.Timers() != 0 || task.runs.Load() != 1 {
			t.Fatalf("timers armed %d, runs %d", clk.Timers(), task.runs.Load())
		}
	})
}

// TestSynctestFakeClockMatchesHeap runs the heap comparison end to end: the
// real wheel goroutine on a FakeClock, with synctest.Wait to know when it
// has caught up. The clock never jumps past the next live deadline, so each
// task's run time pins down the tick it ran at.
func TestSynctestFakeClockMatchesHeap(t *testing.T) {
	for seed := range uint64(6) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) { runEndToEndVsHeap(t, seed) })
		})
	}
}

func runEndToEndVsHeap(t *testing.T, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 0xe2e))
	const tick = time.Millisecond
	start := epoch.Add(time.Duration(rng.Int64N(int64(time.Second))))
	clk := scheduler.NewFakeClock(start)
	s, err := scheduler.New(scheduler.WithClock(clk), scheduler.WithTick(tick))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ref := newRef()
	type entry struct {
		h    scheduler.Handle
		task *timeTask
		seen bool
	}
	var all []*entry
	elapsed := func() time.Duration { return clk.Now().Sub(start) }
	check := func(when string) {
		t.Helper()
		synctest.Wait()
		ref.advanceTo(int64(elapsed() / tick))
		var got []firing
		for id, e := range all {
			if !e.task.at.IsZero() && !e.seen {
				e.seen = true
				got = append(got, firing{id: id, tick: int64(e.task.at.Sub(start) / tick)})
			}
		}
		byTick := func(a, b firing) int { return cmp.Or(cmp.Compare(a.tick, b.tick), cmp.Compare(a.id, b.id)) }
		slices.SortFunc(got, byTick)
		slices.SortFunc(ref.fired, byTick)
		if !slices.Equal(got, ref.fired) {
			t.Fatalf("%s: wheel ran %v, reference ran %v", when, got, ref.fired)
		}
		ref.fired = ref.fired[:0]
	}
	for op := range 1500 {
		switch k := rng.IntN(100); {
		case k < 50:
			d := randDelay(rng, tick)
			e := &entry{task: &timeTask{now: clk.Now}}
			ref.schedule(len(all), expectedDue(elapsed(), d, tick))
			e.h = s.Schedule(d, e.task)
			all = append(all, e)
		case k < 65 && len(all) > 0:
			id := rng.IntN(len(all))
			synctest.Wait() // let a due task finish running before comparing
			if w, r := all[id].h.Stop(), ref.stop(id); w != r {
				t.Fatalf("op %d: Stop(%d) = %v, reference %v", op, id, w, r)
			}
		default:
			due, ok := ref.earliest()
			var d time.Duration
			if ok {
				until := start.Add(time.Duration(due) * tick).Sub(clk.Now())
				d = until
				if rng.IntN(3) == 0 {
					d = time.Duration(rng.Int64N(int64(until) + 1))
				}
			} else {
				d = time.Duration(rng.Int64N(int64(100 * tick)))
			}
			synctest.Wait()
			clk.Advance(d)
			check(fmt.Sprintf("op %d", op))
		}
	}
	for i := 0; ; i++ {
		due, ok := ref.earliest()
		if !ok {
			break
		}
		synctest.Wait()
		clk.Advance(start.Add(time.Duration(due) * tick).Sub(clk.Now()))
		check(fmt.Sprintf("flush %d", i))
	}
	ran := 0
	for _, e := range all {
		if e.seen {
			ran++
		}
	}
	if ran < len(all)/2 {
		t.Fatalf("only %d of %d tasks ran: the schedule is too thin to test anything", ran, len(all))
	}
	t.Logf("%d scheduled, %d ran, clock advanced %v", len(all), ran, elapsed())
}

// newSystem returns a Scheduler on the system clock (the bubble's, inside
// a testing/synctest bubble), closed when the test ends.
func newSystem(t *testing.T) *scheduler.Scheduler {
	t.Helper()
	s, err := scheduler.New()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// advance moves the bubble's virtual clock forward by d: inside a synctest
// bubble, waiting on a timer returns as soon as every goroutine is blocked.
func advance(d time.Duration) { <-time.After(d) }
