package scheduler_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/regoresilience/rego/scheduler"
)

// defaultTestTimeout bounds waits for things that must happen.
const defaultTestTimeout = 10 * time.Second

var epoch = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

// countTask counts its runs.
type countTask struct{ runs atomic.Int32 }

func (c *countTask) Run() { c.runs.Add(1) }

// chanTask closes its channel when it runs.
type chanTask chan struct{}

func (c chanTask) Run() { close(c) }

func newManual(t *testing.T, opts ...scheduler.Option) (*scheduler.Scheduler, *scheduler.FakeClock) {
	t.Helper()
	clk := scheduler.NewFakeClock(epoch)
	s, err := scheduler.NewManual(append([]scheduler.Option{scheduler.WithClock(clk)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return s, clk
}

func newRunning(t *testing.T, opts ...scheduler.Option) (*scheduler.Scheduler, *scheduler.FakeClock) {
	t.Helper()
	clk := scheduler.NewFakeClock(epoch)
	s, err := scheduler.New(append([]scheduler.Option{scheduler.WithClock(clk)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, clk
}

func wait(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(defaultTestTimeout):
		t.Fatalf("timed out waiting for %s", what)
	}
}

// TestNewRejectsBadOptions verifies that invalid options fail New with an
// error matching ErrInvalidOption, and that nil options are ignored.
func TestNewRejectsBadOptions(t *testing.T) {
	for name, opt := range map[string]scheduler.Option{
		"zero tick":     scheduler.WithTick(0),
		"negative tick": scheduler.WithTick(-time.Millisecond),
		"huge tick":     scheduler.WithTick(scheduler.MaxTick + 1),
		"nil clock":     scheduler.WithClock(nil),
	} {
		s, err := scheduler.New(opt)
		if !errors.Is(err, scheduler.ErrInvalidOption) || s != nil {
			t.Errorf("%s: New = %v, %v; want nil, ErrInvalidOption", name, s, err)
		}
	}
	s, err := scheduler.New(nil, scheduler.WithTick(scheduler.MaxTick))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.Tick() != scheduler.MaxTick {
		t.Errorf("Tick() = %v", s.Tick())
	}
}

// TestDefaults verifies the default tick and that Now reads the injected clock.
func TestDefaults(t *testing.T) {
	s, clk := newManual(t)
	if s.Tick() != scheduler.DefaultTick || scheduler.DefaultTick != time.Millisecond {
		t.Errorf("Tick() = %v, DefaultTick = %v", s.Tick(), scheduler.DefaultTick)
	}
	clk.Advance(time.Hour)
	if !s.Now().Equal(epoch.Add(time.Hour)) {
		t.Errorf("Now() = %v", s.Now())
	}
}

// TestDeadlineRounding verifies the timing promise: a task runs at the first
// tick boundary at or after now+d, never before the next boundary.
func TestDeadlineRounding(t *testing.T) {
	const tick = 10 * time.Millisecond
	for _, tc := range []struct {
		offset, d time.Duration // clock offset from a boundary, delay
		runsAt    time.Duration // from the boundary
	}{
		{0, 0, tick},
		{0, -time.Hour, tick},
		{0, 1, tick},
		{0, tick, tick},
		{0, tick + 1, 2 * tick},
		{3 * time.Millisecond, 0, tick},
		{3 * time.Millisecond, 7 * time.Millisecond, tick},
		{3 * time.Millisecond, 7*time.Millisecond + 1, 2 * tick},
		{3 * time.Millisecond, 64 * tick, 65 * tick},
	} {
		s, clk := newManual(t, scheduler.WithTick(tick))
		clk.Advance(5*tick + tc.offset)
		s.Step()
		task := &countTask{}
		s.Schedule(tc.d, task)
		base := 5 * tick
		clk.Advance(base + tc.runsAt - 1 - clk.Now().Sub(epoch))
		s.Step()
		if task.runs.Load() != 0 {
			t.Errorf("offset %v d %v: ran before %v", tc.offset, tc.d, tc.runsAt)
		}
		clk.Advance(1)
		s.Step()
		if task.runs.Load() != 1 {
			t.Errorf("offset %v d %v: did not run at %v", tc.offset, tc.d, tc.runsAt)
		}
	}
}

// TestScheduleAt verifies absolute deadlines round up and past ones run on
// the next tick.
func TestScheduleAt(t *testing.T) {
	s, clk := newManual(t)
	clk.Advance(500 * time.Microsecond)
	past, future := &countTask{}, &countTask{}
	s.ScheduleAt(epoch.Add(-time.Hour), past)
	s.ScheduleAt(epoch.Add(2500*time.Microsecond), future) // rounds up to 3ms
	clk.Advance(500*time.Microsecond - 1)
	s.Step()
	if past.runs.Load() != 0 {
		t.Fatal("past deadline ran before the next tick")
	}
	clk.Advance(1)
	s.Step()
	if past.runs.Load() != 1 {
		t.Fatal("past deadline did not run on the next tick")
	}
	clk.Advance(2*time.Millisecond - 1)
	s.Step()
	if future.runs.Load() != 0 {
		t.Fatal("ran early")
	}
	clk.Advance(1)
	s.Step()
	if future.runs.Load() != 1 {
		t.Fatal("did not run at 3ms")
	}
	if _, err := s.TryScheduleAt(epoch, nil); !errors.Is(err, scheduler.ErrNilTask) {
		t.Errorf("TryScheduleAt(nil) = %v", err)
	}
}

// TestStop verifies Stop's result in every state: pending, stopped twice,
// after the run, and the zero Handle.
func TestStop(t *testing.T) {
	s, clk := newManual(t)
	a, b := &countTask{}, &countTask{}
	ha := s.Schedule(time.Millisecond, a)
	hb := s.Schedule(time.Millisecond, b)
	if !ha.Stop() {
		t.Fatal("Stop of a pending task = false")
	}
	if ha.Stop() {
		t.Fatal("second Stop = true")
	}
	clk.Advance(time.Millisecond)
	s.Step()
	if a.runs.Load() != 0 || b.runs.Load() != 1 {
		t.Fatalf("runs: stopped %d, other %d", a.runs.Load(), b.runs.Load())
	}
	if hb.Stop() {
		t.Fatal("Stop after the run = true")
	}
	if (scheduler.Handle{}).Stop() {
		t.Fatal("zero Handle Stop = true")
	}
	if s.Filed() != 0 {
		t.Fatalf("%d nodes left filed", s.Filed())
	}
}

// TestStopDropsFiledNodeWhenSlotComes verifies lazy cancellation: a task
// stopped after the wheel filed it stays filed until its slot comes up, then
// is dropped without running.
func TestStopDropsFiledNodeWhenSlotComes(t *testing.T) {
	s, clk := newManual(t)
	task := &countTask{}
	h := s.Schedule(time.Second, task)
	s.Step()
	if s.Filed() != 1 {
		t.Fatalf("filed = %d", s.Filed())
	}
	h.Stop()
	if s.Filed() != 1 {
		t.Fatal("Stop touched the wheel")
	}
	clk.Advance(time.Second)
	s.Step()
	if s.Filed() != 0 || task.runs.Load() != 0 {
		t.Fatalf("filed %d, runs %d", s.Filed(), task.runs.Load())
	}
	if got := s.Step(); got != scheduler.NoTarget {
		t.Fatalf("empty wheel target %d", got)
	}
}

// TestStopInMailboxIsDroppedAtDrain verifies a task stopped before the wheel
// drained it is never filed, while the wheel keeps the wake-up it would have
// needed (so that the next such Schedule need not wake it), until then.
func TestStopInMailboxIsDroppedAtDrain(t *testing.T) {
	s, clk := newManual(t)
	s.Schedule(time.Hour, &countTask{}).Stop()
	hour := int64(time.Hour / time.Millisecond)
	if next := s.Step(); next != hour || s.Filed() != 0 {
		t.Fatalf("target %d, filed %d; want %d, 0", next, s.Filed(), hour)
	}
	s.Schedule(2*time.Hour, &countTask{}).Stop()
	if next := s.Step(); next != hour || s.Target() != hour {
		t.Fatalf("target %d, published %d; want %d", next, s.Target(), hour)
	}
	clk.Advance(time.Hour) // only the earliest stoppedDue is kept
	if next := s.Step(); next != scheduler.NoTarget {
		t.Fatalf("target %d, want none", next)
	}
}

// funcTask adapts a func to Task in tests.
type funcTask func()

func (f funcTask) Run() { f() }

// TestStopRecycledHandle verifies that a Handle whose node has been reused
// for later tasks cannot stop them (the generation check), while each later
// task's own Handle still works.
func TestStopRecycledHandle(t *testing.T) {
	s, clk := newManual(t)
	var first, second, third scheduler.Handle
	secondRuns, thirdRuns := 0, 0
	first = s.Schedule(0, funcTask(func() {
		// The wheel recycled this task's node just before running it.
		second = s.PushReused(s.WheelNow()+1, funcTask(func() {
			secondRuns++
			third = s.PushReused(s.WheelNow()+1, funcTask(func() { thirdRuns++ }))
		}))
	}))
	clk.Advance(time.Millisecond)
	s.Step()
	if !scheduler.SameNode(first, second) {
		t.Fatal("test setup: the node was not reused")
	}
	if first.Stop() {
		t.Fatal("stale Handle stopped the node's second task")
	}
	clk.Advance(time.Millisecond)
	s.Step()
	if secondRuns != 1 || !scheduler.SameNode(first, third) {
		t.Fatalf("second task ran %d times; node reused again: %v", secondRuns, scheduler.SameNode(first, third))
	}
	if first.Stop() || second.Stop() {
		t.Fatal("stale Handle stopped the node's third task")
	}
	if !third.Stop() || third.Stop() {
		t.Fatal("the third task's own Handle: Stop results wrong")
	}
	clk.Advance(time.Millisecond)
	s.Step()
	if thirdRuns != 0 {
		t.Fatal("stopped task ran")
	}
}

// TestPushWhileWheelAwakeIsNotLost verifies the wake-up protocol's one
// subtle case: a push that lands while the wheel reads as awake (so the
// call site sends no wake-up), after the wheel drained its mailbox. The
// wheel must still see the node before it sleeps, and plan to wake for it.
func TestPushWhileWheelAwakeIsNotLost(t *testing.T) {
	s, clk := newManual(t)
	s.Schedule(time.Hour, &countTask{})
	s.Step() // sleeps towards the hour
	near := &countTask{}
	s.SetBeforePublish(func() {
		s.SetBeforePublish(nil)
		if got := s.Target(); got != 0 {
			t.Errorf("target while awake = %d, want 0", got)
		}
		s.Schedule(time.Millisecond, near) // sees target 0: no wake-up sent
	})
	if next := s.Step(); next != 1 || s.Target() != 1 {
		t.Fatalf("wheel plans to wake at %d (published %d), want tick 1", next, s.Target())
	}
	if s.Filed() != 2 {
		t.Fatalf("filed %d, want 2", s.Filed())
	}
	clk.Advance(time.Millisecond)
	s.Step()
	if near.runs.Load() != 1 {
		t.Fatal("the near task did not run")
	}
}

// TestNilTask verifies nil tasks are refused without panicking.
func TestNilTask(t *testing.T) {
	s, _ := newManual(t)
	if h := s.Schedule(time.Millisecond, nil); h != (scheduler.Handle{}) {
		t.Error("Schedule(nil) returned a Handle")
	}
	if h := s.AfterFunc(time.Millisecond, nil); h != (scheduler.Handle{}) {
		t.Error("AfterFunc(nil) returned a Handle")
	}
	if _, err := s.TrySchedule(time.Millisecond, nil); !errors.Is(err, scheduler.ErrNilTask) {
		t.Errorf("TrySchedule(nil) = %v", err)
	}
}

// TestTaskReschedulesItself verifies a task may call Schedule from the wheel
// goroutine (the node it ran from is already back in the pool).
func TestTaskReschedulesItself(t *testing.T) {
	s, clk := newRunning(t)
	done := make(chan struct{})
	var n int
	var again func()
	again = func() {
		n++
		if n == 5 {
			close(done)
			return
		}
		s.AfterFunc(time.Millisecond, again)
	}
	s.AfterFunc(time.Millisecond, again)
	for range 5 {
		ctx, cancel := context.WithTimeout(context.Background(), defaultTestTimeout)
		err := clk.BlockUntilTimers(ctx, 1)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		clk.Advance(time.Millisecond)
	}
	wait(t, done, "five runs")
}

// TestEndToEndFakeClock verifies the real wheel goroutine sleeps on the
// injected clock (the pattern a user's test follows): an idle scheduler
// arms no timer, and a task runs once the FakeClock reaches its deadline.
// (TestSynctestFakeClockMatchesHeap checks what must not happen.)
func TestEndToEndFakeClock(t *testing.T) {
	s, clk := newRunning(t)
	ctx, cancel := context.WithTimeout(context.Background(), defaultTestTimeout)
	defer cancel()
	if clk.Timers() != 0 {
		t.Fatal("idle scheduler armed a timer")
	}
	done := make(chan struct{})
	s.Schedule(50*time.Millisecond, chanTask(done))
	if err := clk.BlockUntilTimers(ctx, 1); err != nil { // the wheel sleeps towards 50ms
		t.Fatal(err)
	}
	clk.Advance(50 * time.Millisecond)
	wait(t, done, "the task")
}

// TestClose verifies Close stops the wheel goroutine, pending tasks never
// run, later schedules are refused, and Close is idempotent.
func TestClose(t *testing.T) {
	clk := scheduler.NewFakeClock(epoch)
	s, err := scheduler.New(scheduler.WithClock(clk))
	if err != nil {
		t.Fatal(err)
	}
	pending := []*countTask{{}, {}, {}}
	for i, p := range pending {
		s.Schedule(time.Duration(i)*time.Hour, p)
	}
	ctx, cancel := context.WithTimeout(context.Background(), defaultTestTimeout)
	defer cancel()
	if err := clk.BlockUntilTimers(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	clk.Advance(10 * time.Hour)
	late := &countTask{}
	if h := s.Schedule(0, late); h != (scheduler.Handle{}) {
		t.Error("Schedule after Close returned a Handle")
	}
	if _, err := s.TrySchedule(0, late); !errors.Is(err, scheduler.ErrClosed) {
		t.Errorf("TrySchedule after Close = %v", err)
	}
	if _, err := s.TryScheduleAt(epoch, late); !errors.Is(err, scheduler.ErrClosed) {
		t.Errorf("TryScheduleAt after Close = %v", err)
	}
	if h := s.AfterFunc(0, func() { t.Error("ran after Close") }); h != (scheduler.Handle{}) {
		t.Error("AfterFunc after Close returned a Handle")
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}
	for i, p := range append(pending, late) {
		if p.runs.Load() != 0 {
			t.Errorf("task %d ran after Close", i)
		}
	}
	if clk.Timers() != 0 {
		t.Error("Close left the wheel's timer armed")
	}
	var nilS *scheduler.Scheduler
	if _, err := nilS.TrySchedule(0, late); !errors.Is(err, scheduler.ErrClosed) {
		t.Errorf("nil Scheduler TrySchedule = %v", err)
	}
	if err := nilS.Close(); err != nil {
		t.Errorf("nil Scheduler Close = %v", err)
	}
	var zero scheduler.Scheduler
	if _, err := zero.TrySchedule(0, late); !errors.Is(err, scheduler.ErrClosed) {
		t.Errorf("zero Scheduler TrySchedule = %v", err)
	}
	if err := zero.Close(); err != nil {
		t.Errorf("zero Scheduler Close = %v", err)
	}
}

// TestZeroAllocs verifies Schedule+Stop and AfterFunc+Stop allocate nothing
// in steady state, and neither does the wheel filing and firing them.
func TestZeroAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items under the race detector")
	}
	s, clk := newManual(t)
	task := &countTask{}
	f := func() {}
	for range 1000 { // warm the pool
		s.Schedule(time.Millisecond, task)
	}
	clk.Advance(time.Millisecond)
	s.Step()
	if a := testing.AllocsPerRun(1000, func() {
		s.Schedule(time.Second, task).Stop()
		s.AfterFunc(time.Second, f).Stop()
		s.Step()
	}); a != 0 {
		t.Errorf("Schedule+Stop: %v allocs", a)
	}
	if a := testing.AllocsPerRun(1000, func() {
		s.Schedule(0, task)
		clk.Advance(time.Millisecond)
		s.Step()
	}); a != 0 {
		t.Errorf("Schedule+run: %v allocs", a)
	}
}

// TestShutdownRunsPending verifies Shutdown runs every pending task once,
// including those filed far in the future and those still in the mailbox,
// and none that was stopped; tasks scheduled afterwards never run.
func TestShutdownRunsPending(t *testing.T) {
	s, err := scheduler.New()
	if err != nil {
		t.Fatal(err)
	}
	var ran [4]atomic.Int32
	s.AfterFunc(time.Hour, func() { ran[0].Add(1) })
	s.AfterFunc(365*24*time.Hour, func() { ran[1].Add(1) })
	h := s.AfterFunc(time.Hour, func() { ran[2].Add(1) })
	h.Stop()
	s.Shutdown()
	if h2 := s.AfterFunc(time.Millisecond, func() { ran[3].Add(1) }); h2 != (scheduler.Handle{}) {
		t.Error("Schedule after Shutdown returned a live Handle")
	}
	s.Shutdown() // idempotent
	for i, want := range []int32{1, 1, 0, 0} {
		if got := ran[i].Load(); got != want {
			t.Errorf("task %d ran %d times, want %d", i, got, want)
		}
	}
}
