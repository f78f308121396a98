package scheduler_test

import (
	"errors"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/regoresilience/rego/scheduler"
)

// stressTask counts its runs and successful Stops; each must end with
// exactly one of the two.
type stressTask struct {
	h       scheduler.Handle
	ran     atomic.Int32
	stopped atomic.Int32
	out     *sync.WaitGroup // one count per task, released by its run or its Stop
}

func (s *stressTask) Run() {
	if s.ran.Add(1) == 1 {
		s.out.Done()
	}
}

func (s *stressTask) stop() {
	if s.h.Stop() {
		if s.stopped.Add(1) == 1 {
			s.out.Done()
		}
	}
}

// TestStressConservation verifies, with the real clock and many goroutines
// scheduling and stopping (their own tasks and each other's) while the
// wheel runs, that every task either ran exactly once or was stopped
// exactly once, never both. Run it with -race.
func TestStressConservation(t *testing.T) {
	const tick = 100 * time.Microsecond
	s, err := scheduler.New(scheduler.WithTick(tick))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	const goroutines, perGoroutine = 8, 2000
	var out sync.WaitGroup
	all := make([][]*stressTask, goroutines)
	var shared [64]atomic.Pointer[stressTask] // lets goroutines stop each other's tasks
	var workers sync.WaitGroup
	for g := range goroutines {
		workers.Add(1)
		go func() {
			defer workers.Done()
			rng := rand.New(rand.NewPCG(uint64(g), 7))
			mine := make([]*stressTask, 0, perGoroutine)
			for range perGoroutine {
				st := &stressTask{out: &out}
				out.Add(1)
				var d time.Duration
				switch k := rng.IntN(10); {
				case k == 0:
					d = time.Hour // must be stopped below
				case k < 3:
					d = 0
				default:
					d = time.Duration(rng.Int64N(int64(5 * tick)))
				}
				st.h = s.Schedule(d, st)
				mine = append(mine, st)
				if d == time.Hour {
					shared[rng.IntN(len(shared))].Store(st)
				}
				switch rng.IntN(4) {
				case 0:
					st.stop() // at once: still in the mailbox
				case 1:
					mine[rng.IntN(len(mine))].stop()
				case 2:
					if o := shared[rng.IntN(len(shared))].Load(); o != nil {
						o.stop() // someone else's, concurrently with its owner
					}
				}
			}
			for _, st := range mine {
				if st.ran.Load() == 0 {
					st.stop() // the hour-long ones; harmless on the rest
				}
			}
			all[g] = mine
		}()
	}
	workers.Wait()
	done := make(chan struct{})
	go func() { out.Wait(); close(done) }()
	wait(t, done, "every task to run or be stopped")
	if err := s.Close(); err != nil { // no run can happen after this
		t.Fatal(err)
	}
	var ran, stopped int
	for g, mine := range all {
		for i, st := range mine {
			r, sp := st.ran.Load(), st.stopped.Load()
			if r+sp != 1 {
				t.Fatalf("goroutine %d task %d: ran %d times, stopped %d times", g, i, r, sp)
			}
			ran += int(r)
			stopped += int(sp)
		}
	}
	t.Logf("%d ran, %d stopped", ran, stopped)
}

// TestStressCloseWhileScheduling verifies Close racing with Schedule: no
// panic, no leak, a task refused with ErrClosed never runs, and no task
// runs twice.
func TestStressCloseWhileScheduling(t *testing.T) {
	s, err := scheduler.New(scheduler.WithTick(100 * time.Microsecond))
	if err != nil {
		t.Fatal(err)
	}
	const goroutines = 4
	var workers sync.WaitGroup
	refused := make([][]*countTask, goroutines)
	accepted := make([][]*countTask, goroutines)
	started := make(chan struct{}, goroutines)
	for g := range goroutines {
		workers.Add(1)
		go func() {
			defer workers.Done()
			started <- struct{}{}
			for i := 0; ; i++ {
				task := &countTask{}
				_, err := s.TrySchedule(time.Duration(i%3)*100*time.Microsecond, task)
				if errors.Is(err, scheduler.ErrClosed) {
					refused[g] = append(refused[g], task)
					return
				}
				accepted[g] = append(accepted[g], task)
			}
		}()
	}
	for range goroutines {
		<-started
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	workers.Wait()
	for g := range goroutines {
		for _, task := range refused[g] {
			if task.runs.Load() != 0 {
				t.Fatal("a refused task ran")
			}
		}
		for _, task := range accepted[g] {
			if task.runs.Load() > 1 {
				t.Fatal("a task ran twice")
			}
		}
	}
}

// TestStressNoLostWakeUp verifies the wake-up protocol under races: while
// the wheel sleeps towards a far deadline, goroutines schedule near timers
// concurrently, round after round, racing the wheel as it wakes, drains and
// goes back to sleep. A lost wake-up would leave a task waiting for the far
// deadline, an hour away.
func TestStressNoLostWakeUp(t *testing.T) {
	s, err := scheduler.New(scheduler.WithTick(50 * time.Microsecond))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	far := s.Schedule(time.Hour, &countTask{})
	defer far.Stop()
	const goroutines, rounds = 4, 300
	for round := range rounds {
		var ran sync.WaitGroup
		ran.Add(goroutines)
		start := make(chan struct{})
		for g := range goroutines {
			go func() {
				<-start
				s.AfterFunc(time.Duration(g%2)*50*time.Microsecond, ran.Done)
			}()
		}
		close(start)
		done := make(chan struct{})
		go func() { ran.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(defaultTestTimeout):
			t.Fatalf("round %d: a task was not run (lost wake-up)", round)
		}
	}
}
