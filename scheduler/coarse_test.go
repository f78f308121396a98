package scheduler_test

import (
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/regoresilience/rego/scheduler"
)

// TestSynctestCoarse verifies ScheduleCoarse and ScheduleCoarseNode in a
// testing/synctest bubble, where time moves only when every goroutine is
// blocked: a coarse task never runs before its delay has elapsed and at
// most one tick after Schedule would have run it; stopped tasks never run;
// busy call sites do push relative nodes (the wheel polls); and a wheel
// left idle stops polling and sleeps with nothing armed.
func TestSynctestCoarse(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newSystem(t)
		start := time.Now()
		tick := s.Tick()
		rng := rand.New(rand.NewPCG(3, 4))
		type entry struct {
			task    *timeTask
			once    *scheduler.TimerNode
			h       scheduler.Handle
			at      time.Duration // when it was scheduled
			d       time.Duration
			stopped bool
		}
		var all []*entry
		polled := 0
		for range 2000 {
			advance(time.Duration(rng.Int64N(int64(tick / 2))))
			synctest.Wait() // let the wheel take what it has been sent
			if s.Polling() {
				polled++
			}
			e := &entry{task: &timeTask{now: time.Now}, at: time.Since(start)}
			e.d = min(randDelay(rng, tick), time.Hour)
			if rng.IntN(2) == 0 {
				e.once = new(scheduler.TimerNode)
				e.h = s.ScheduleCoarseNode(e.once, e.d, e.task)
			} else {
				e.h = s.ScheduleCoarse(e.d, e.task)
			}
			all = append(all, e)
			if rng.IntN(5) == 0 {
				x := all[rng.IntN(len(all))]
				stop := x.h.Stop
				if x.once != nil && rng.IntN(2) == 0 {
					stop = x.once.Stop
				}
				x.stopped = stop() || x.stopped
			}
		}
		if polled < len(all)/2 {
			t.Errorf("the wheel polled at only %d of %d calls", polled, len(all))
		}
		advance(2 * time.Hour)
		synctest.Wait()
		for i, e := range all {
			ran := e.task.at.Sub(start)
			switch {
			case e.stopped && !e.task.at.IsZero():
				t.Errorf("task %d ran after a successful Stop", i)
			case e.stopped:
			case e.task.at.IsZero():
				t.Errorf("task %d (at %v, delay %v) never ran", i, e.at, e.d)
			case ran < e.at+max(e.d, 0):
				t.Errorf("task %d ran early: at %v, scheduled at %v with delay %v", i, ran, e.at, e.d)
			case ran > time.Duration(expectedDue(e.at, e.d, tick)+1)*tick:
				t.Errorf("task %d ran at %v, more than a tick after %v", i, ran, time.Duration(expectedDue(e.at, e.d, tick))*tick)
			}
		}
		if s.Polling() || s.Target() != scheduler.NoTarget {
			t.Errorf("idle wheel: polling %v, target %d", s.Polling(), s.Target())
		}
	})
}

// TestTimerNode verifies a TimerNode's life: Stop before scheduling reports false, a
// second ScheduleCoarseNode panics, Stop works through the TimerNode and the
// Handle alike, the wheel never hands a TimerNode's node to the pools, and a
// closed Scheduler leaves the TimerNode unscheduled.
func TestTimerNode(t *testing.T) {
	s, clk := newRunning(t)
	var o scheduler.TimerNode
	if o.Stop() {
		t.Fatal("Stop of an unscheduled TimerNode reported true")
	}
	ran := make(chanTask)
	h := s.ScheduleCoarseNode(&o, 5*time.Millisecond, ran)
	func() {
		defer func() {
			if recover() == nil {
				t.Error("scheduling a TimerNode twice did not panic")
			}
		}()
		s.ScheduleCoarseNode(&o, time.Millisecond, &countTask{})
	}()
	clk.Advance(5 * time.Millisecond)
	wait(t, ran, "the TimerNode's task")
	if h.Stop() || o.Stop() {
		t.Fatal("Stop after the run reported true")
	}

	var stopped scheduler.TimerNode
	c := &countTask{}
	hs := s.ScheduleCoarseNode(&stopped, time.Millisecond, c)
	if !stopped.Stop() || hs.Stop() {
		t.Fatal("Stop through the TimerNode, then through its Handle: want true, false")
	}
	// Pooled nodes scheduled after the wheel has been through the Onces
	// never share their memory.
	clk.Advance(time.Second)
	done := make(chanTask)
	s.Schedule(time.Millisecond, done)
	clk.Advance(time.Millisecond)
	wait(t, done, "a pooled task")
	for range 200 {
		if h2 := s.Schedule(time.Hour, c); scheduler.SameNode(h2, h) || scheduler.SameNode(h2, hs) {
			t.Fatal("a TimerNode's node went to the pools")
		}
	}
	if c.runs.Load() != 0 {
		t.Fatal("a stopped TimerNode ran")
	}

	s.Close()
	var late scheduler.TimerNode
	if h := s.ScheduleCoarseNode(&late, time.Millisecond, c); h != (scheduler.Handle{}) {
		t.Fatal("ScheduleCoarseNode after Close returned a Handle")
	}
	if _, err := s.TryScheduleCoarse(time.Millisecond, c); err != scheduler.ErrClosed {
		t.Fatalf("TryScheduleCoarse after Close: %v", err)
	}
	s2, _ := newRunning(t)
	s2.ScheduleCoarseNode(&late, time.Hour, c) // still unscheduled: no panic
	late.Stop()
}

// TestStressCoarseNeverEarly verifies, with the real clock and goroutines
// scheduling coarse tasks (pooled and TimerNode) while the wheel polls, wakes and
// goes idle, that every task runs exactly once unless stopped, and never
// before its delay has elapsed. Run it with -race.
func TestStressCoarseNeverEarly(t *testing.T) {
	const tick = 100 * time.Microsecond
	s, err := scheduler.New(scheduler.WithTick(tick))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	const goroutines, perGoroutine = 4, 3000
	var early, twice atomic.Int32
	var out sync.WaitGroup
	var workers sync.WaitGroup
	for g := range goroutines {
		workers.Add(1)
		go func() {
			defer workers.Done()
			rng := rand.New(rand.NewPCG(uint64(g), 11))
			for i := range perGoroutine {
				if i%500 == 0 {
					// Let the wheel go idle now and then, so that pushes
					// also meet it leaving and entering its polling.
					<-time.After(time.Duration(rng.IntN(3)) * tick)
				}
				d := time.Duration(rng.Int64N(int64(5 * tick)))
				var runs atomic.Int32
				out.Add(1)
				begin := time.Now()
				task := funcTask(func() {
					if time.Since(begin) < d {
						early.Add(1)
					}
					if runs.Add(1) == 1 {
						out.Done()
					} else {
						twice.Add(1)
					}
				})
				var h scheduler.Handle
				if i%2 == 0 {
					h = s.ScheduleCoarseNode(new(scheduler.TimerNode), d, task)
				} else {
					h = s.ScheduleCoarse(d, task)
				}
				if rng.IntN(4) == 0 && h.Stop() {
					out.Done()
				}
			}
		}()
	}
	workers.Wait()
	done := make(chan struct{})
	go func() { out.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(defaultTestTimeout):
		t.Fatal("a coarse task never ran")
	}
	if early.Load() != 0 || twice.Load() != 0 {
		t.Fatalf("%d tasks ran early, %d ran twice", early.Load(), twice.Load())
	}
}
