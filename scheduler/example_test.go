package scheduler_test

import (
	"context"
	"fmt"
	"time"

	"github.com/regoresilience/rego/scheduler"
)

// A test drives a Scheduler with a FakeClock: wait until the wheel sleeps
// on the clock, then move the clock.
func Example() {
	clk := scheduler.NewFakeClock(time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC))
	s, err := scheduler.New(scheduler.WithClock(clk))
	if err != nil {
		panic(err)
	}
	defer s.Close()

	fired := make(chan time.Time, 1)
	s.AfterFunc(50*time.Millisecond, func() { fired <- clk.Now() }) // must not block: buffered send

	_ = clk.BlockUntilTimers(context.Background(), 1) // the wheel sleeps until 50ms
	clk.Advance(50 * time.Millisecond)
	fmt.Println("fired at", (<-fired).Format("15:04:05.000"))
	// Output: fired at 00:00:00.050
}

// attemptTimeout is a Task: scheduling a pointer to it allocates nothing.
type attemptTimeout struct{ cancel context.CancelFunc }

func (a *attemptTimeout) Run() { a.cancel() }

// Schedule a Task and stop it when the work finishes first.
func ExampleScheduler_Schedule() {
	s, err := scheduler.New()
	if err != nil {
		panic(err)
	}
	defer s.Close()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	h := s.Schedule(time.Second, &attemptTimeout{cancel: cancel})
	// ... the attempt finishes well within its second ...
	fmt.Println("stopped before it fired:", h.Stop())
	fmt.Println("stopped again:", h.Stop())
	fmt.Println("ctx alive:", ctx.Err() == nil)
	// Output:
	// stopped before it fired: true
	// stopped again: false
	// ctx alive: true
}

// A FakeClock stands in for time in tests of any code that takes a Clock.
func ExampleFakeClock() {
	clk := scheduler.NewFakeClock(time.Unix(0, 0).UTC())
	t := clk.NewTimer(time.Second)
	fmt.Println("armed:", clk.Timers())
	clk.Advance(time.Second)
	fmt.Println("fired at:", (<-t.C()).Unix())
	fmt.Println("armed:", clk.Timers())
	// Output:
	// armed: 1
	// fired at: 1
	// armed: 0
}

// request is what a caller allocates per request anyway; embedding the
// TimerNode in it makes arming its timer allocation- and pool-free.
type request struct {
	timer  scheduler.TimerNode
	hedged chan struct{}
}

func (r *request) Run() { close(r.hedged) } // the hedge trigger fired

// Arm a coarse timer on a node the caller owns, and stop it when the work
// finishes first.
func ExampleScheduler_ScheduleCoarseNode() {
	s, err := scheduler.New()
	if err != nil {
		panic(err)
	}
	defer s.Close()

	r := &request{hedged: make(chan struct{})}
	s.ScheduleCoarseNode(&r.timer, 80*time.Millisecond, r)
	// ... the request answers within its 80ms ...
	fmt.Println("stopped before it fired:", r.timer.Stop())
	// Output: stopped before it fired: true
}
