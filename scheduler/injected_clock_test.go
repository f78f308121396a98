package scheduler_test

import (
	"math/rand/v2"
	"testing"
	"testing/synctest"
	"time"

	"github.com/regoresilience/rego/scheduler"
)

// TestInjectedClockNeverEarly drives the wheel by hand (NewManual) on a
// FakeClock, as any injected clock drives it, with the clock stopping at
// arbitrary points inside a tick: Schedule, ScheduleAt, ScheduleCoarse and
// ScheduleCoarseNode tasks with delays that are not whole ticks never run
// before their delay has elapsed, and run at the first tick boundary at or
// after it. On a clock other than SystemClock the wheel never polls, so a
// coarse task's deadline is computed at the call, exactly as Schedule's.
func TestInjectedClockNeverEarly(t *testing.T) {
	clk := scheduler.NewFakeClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	s, err := scheduler.NewManual(scheduler.WithClock(clk))
	if err != nil {
		t.Fatal(err)
	}
	start := clk.Now()
	tick := s.Tick()
	rng := rand.New(rand.NewPCG(5, 6))
	type entry struct {
		task  *timeTask
		at, d time.Duration
	}
	var all []*entry
	for i := range 5000 {
		clk.Advance(time.Duration(rng.Int64N(int64(tick))))
		s.Step()
		if s.Polling() {
			t.Fatal("the wheel polls on an injected clock")
		}
		e := &entry{task: &timeTask{now: clk.Now}, at: clk.Now().Sub(start)}
		// A learned hedge delay: whole milliseconds plus a fraction.
		e.d = time.Duration(rng.Int64N(int64(20 * tick)))
		switch i % 4 {
		case 0:
			s.Schedule(e.d, e.task)
		case 1:
			s.ScheduleAt(clk.Now().Add(e.d), e.task)
		case 2:
			s.ScheduleCoarse(e.d, e.task)
		default:
			s.ScheduleCoarseNode(new(scheduler.TimerNode), e.d, e.task)
		}
		all = append(all, e)
	}
	for range 40 {
		clk.Advance(tick)
		s.Step()
	}
	for i, e := range all {
		ran := e.task.at.Sub(start)
		want := time.Duration(expectedDue(e.at, e.d, tick)) * tick
		switch {
		case e.task.at.IsZero():
			t.Fatalf("task %d (at %v, delay %v) never ran", i, e.at, e.d)
		case ran < e.at+e.d:
			t.Fatalf("task %d ran early: at %v, scheduled at %v with delay %v", i, ran, e.at, e.d)
		case ran >= want+tick:
			// The clock moves by less than a tick per step, so the wheel
			// sees each boundary within a tick of it.
			t.Fatalf("task %d ran at %v, due at %v", i, ran, want)
		}
	}
}

// wrappedClock is the system clock behind a type the scheduler does not
// recognise as SystemClock: an injected clock that keeps real (or, in a
// synctest bubble, the bubble's) time.
type wrappedClock struct{ scheduler.Clock }

// pollingClock is wrappedClock asking the wheel to poll, as SystemClock's
// does.
type pollingClock struct{ wrappedClock }

func (pollingClock) PollCoarse() bool { return true }

// TestCoarseSystemVersusInjected schedules the same coarse timers, at the
// same instants inside a testing/synctest bubble, on SystemClock and on an
// injected clock reading the same time. Neither runs a task early. They
// differ only in how late: the injected clock's wheel computes the deadline
// at the call (the first tick boundary at or after call+d), while the
// system clock's polling wheel counts d from the tick at which it takes the
// node, up to one tick later. That is the documented price of
// ScheduleCoarseNode, not an early run on injected clocks. A third
// Scheduler, on an injected PollingClock, times coarse tasks as the
// SystemClock one does. (Not always at the same tick: now and then a push
// wakes the SystemClock's wheel at once, see batchWake, which then counts
// d from the call. A PollingClock's wheel skips those wake-ups.)
func TestCoarseSystemVersusInjected(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sys := newSystem(t)
		inj, err := scheduler.New(scheduler.WithClock(wrappedClock{scheduler.SystemClock()}))
		if err != nil {
			t.Fatal(err)
		}
		defer inj.Close()
		pol, err := scheduler.New(scheduler.WithClock(pollingClock{wrappedClock{scheduler.SystemClock()}}))
		if err != nil {
			t.Fatal(err)
		}
		defer pol.Close()
		start := time.Now()
		tick := sys.Tick()
		rng := rand.New(rand.NewPCG(7, 8))
		type entry struct {
			sys, inj, pol *timeTask
			at, d         time.Duration
		}
		var all []*entry
		for range 2000 {
			advance(time.Duration(rng.Int64N(int64(tick / 2))))
			synctest.Wait()
			e := &entry{sys: &timeTask{now: time.Now}, inj: &timeTask{now: time.Now}, pol: &timeTask{now: time.Now}, at: time.Since(start)}
			e.d = time.Duration(rng.Int64N(int64(20 * tick)))
			sys.ScheduleCoarseNode(new(scheduler.TimerNode), e.d, e.sys)
			inj.ScheduleCoarseNode(new(scheduler.TimerNode), e.d, e.inj)
			pol.ScheduleCoarseNode(new(scheduler.TimerNode), e.d, e.pol)
			all = append(all, e)
		}
		advance(time.Second)
		synctest.Wait()
		later, polLater, same := 0, 0, 0
		for i, e := range all {
			rs, ri, rp := e.sys.at.Sub(start), e.inj.at.Sub(start), e.pol.at.Sub(start)
			want := time.Duration(expectedDue(e.at, e.d, tick)) * tick
			switch {
			case e.sys.at.IsZero() || e.inj.at.IsZero():
				t.Fatalf("task %d never ran", i)
			case e.pol.at.IsZero():
				t.Fatalf("task %d never ran on the PollingClock", i)
			case rp < ri || rp > ri+tick:
				t.Fatalf("task %d on the PollingClock ran at %v, want %v or one tick later", i, rp, ri)
			case rs < e.at+e.d || ri < e.at+e.d:
				t.Fatalf("task %d ran early: system %v, injected %v, scheduled at %v with delay %v", i, rs, ri, e.at, e.d)
			case ri != want:
				t.Fatalf("task %d on the injected clock ran at %v, want %v", i, ri, want)
			case rs < ri || rs > ri+tick:
				t.Fatalf("task %d on the system clock ran at %v, want %v or one tick later", i, rs, ri)
			}
			if rs > ri {
				later++
			}
			if rp > ri {
				polLater++
			}
			if rp == rs {
				same++
			}
		}
		t.Logf("%d coarse tasks, none early: one tick later than on the injected clock: %d on SystemClock, %d on the PollingClock; %d at the same tick on both",
			len(all), later, polLater, same)
		if polLater < later/2 {
			t.Errorf("the PollingClock's wheel did not poll")
		}
	})
}
