package engine

import (
	"context"
	"errors"
	"runtime"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// TestAttemptCtxDerived verifies contexts derived from an attempt context end
// with it (through AfterFunc, without a goroutine per derived context), whether
// derived before or after the attempt ends.
func TestAttemptCtxDerived(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := fixed(1, time.Millisecond)
		p.Retry.AttemptTimeout = 50 * time.Millisecond
		e := newEngine(t, withPolicy(p))
		var derived context.Context
		var cancelDerived context.CancelFunc
		defer func() { cancelDerived() }()
		err := e.Do(context.Background(), key, func(ctx context.Context) error {
			d, cancel := context.WithCancel(ctx)
			defer cancel()
			derived, cancelDerived = context.WithCancel(ctx) // must end with its parent: checked below
			<-d.Done()
			return d.Err()
		})
		if !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err = %v", err)
		}
		synctest.Wait() // AfterFunc propagation runs in a goroutine of its own
		select {
		case <-derived.Done():
		default:
			t.Fatal("a context derived from a finished attempt is not done")
		}
	})
}

// TestAttemptCtxParentCancel verifies a caller's cancel reaches an attempt that
// has a deadline of its own, through Done and Err.
func TestAttemptCtxParentCancel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := fixed(1, time.Millisecond)
		p.Retry.AttemptTimeout = time.Hour
		e := newEngine(t, withPolicy(p))
		ctx, cancel := context.WithCancel(context.Background())
		go func() {
			<-time.After(10 * time.Millisecond)
			cancel()
		}()
		err := e.Do(ctx, key, func(ctx context.Context) error {
			<-ctx.Done()
			if !errors.Is(ctx.Err(), context.Canceled) {
				t.Errorf("attempt Err = %v", ctx.Err())
			}
			return ctx.Err()
		})
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v", err)
		}
	})
}

// TestAttemptCtxAfterFinish verifies Done asked after the attempt ended is closed.
func TestAttemptCtxAfterFinish(t *testing.T) {
	p := fixed(1, time.Millisecond)
	p.Retry.AttemptTimeout = time.Hour
	e := newEngine(t, withPolicy(p))
	var kept context.Context
	e.Do(context.Background(), key, func(ctx context.Context) error { kept = ctx; return nil })
	select {
	case <-kept.Done():
	default:
		t.Fatal("Done of a finished attempt is not closed")
	}
	if kept.Err() == nil {
		t.Fatal("Err of a finished attempt is nil")
	}
}

// TestAttemptCtxFinishRacesDone races finish with a first Done (as a
// goroutine the op left behind might): whichever wins, the done channel ends
// up closed, Err reads Canceled and keeps reading it, and the deadline timer
// and the watch on the parent are released.
func TestAttemptCtxFinishRacesDone(t *testing.T) {
	e := newEngine(t)
	parent, cancel := context.WithCancel(context.Background())
	defer cancel()
	for i := range 2000 {
		c := &attemptCtx{parent: parent, eng: e, own: true}
		c.info.Deadline = time.Now().Add(time.Hour)
		got := make(chan (<-chan struct{}))
		go func() { got <- c.Done() }()
		if i%2 == 0 {
			runtime.Gosched()
		}
		c.finish()
		done := <-got
		select {
		case <-done:
		default:
			t.Fatalf("round %d: Done not closed after finish", i)
		}
		if err := c.Err(); err != context.Canceled {
			t.Fatalf("round %d: Err = %v, want Canceled", i, err)
		}
		if a := c.arm.Load(); a != nil {
			if a.timer.Stop() {
				t.Fatalf("round %d: deadline timer still armed", i)
			}
			if a.stopParent != nil && a.stopParent() {
				t.Fatalf("round %d: parent watch still registered", i)
			}
		}
		c.cancel(&errDeadline) // a late deadline must not change what Err said
		if err := c.Err(); err != context.Canceled {
			t.Fatalf("round %d: Err changed to %v", i, err)
		}
	}
}

// TestAttemptCtxLoseRacesErr races a hedge's cancellation (lose) with a
// goroutine of the op polling Err: whichever writes err first, the armed
// done channel must close (a found bug: Err, seeing the attempt lost, set
// err first, and lose's cancel then closed nothing, leaving Done open
// forever).
func TestAttemptCtxLoseRacesErr(t *testing.T) {
	if runtime.GOMAXPROCS(0) < 2 {
		t.Skip("the race needs two goroutines running at once")
	}
	e := newEngine(t)
	open, rounds := 0, 20000
	if testing.Short() || raceEnabled {
		rounds = 2000
	}
	for range rounds {
		c := &attemptCtx{parent: context.Background(), eng: e, own: true}
		c.info.Deadline = time.Now().Add(time.Hour)
		done := c.Done() // armed
		var spinning atomic.Bool
		ended := make(chan struct{})
		go func() {
			defer close(ended)
			for c.Err() == nil { // the op's goroutine, polling as some do
				spinning.Store(true)
			}
		}()
		for !spinning.Load() {
			runtime.Gosched()
		}
		c.lose()
		<-ended
		select {
		case <-done:
		default:
			open++
		}
		c.finish()
	}
	if open > 0 {
		t.Fatalf("%d of %d lost attempts left Done open", open, rounds)
	}
}

// TestAttemptCtxErrStable races Err on an attempt past its deadline with
// lose: every Err call must report the same error.
func TestAttemptCtxErrStable(t *testing.T) {
	if runtime.GOMAXPROCS(0) < 2 {
		t.Skip("the race needs two goroutines running at once")
	}
	e := newEngine(t)
	rounds := 20000
	if testing.Short() || raceEnabled {
		rounds = 2000
	}
	for i := range rounds {
		c := &attemptCtx{parent: context.Background(), eng: e, own: true}
		c.info.Deadline = time.Now().Add(-time.Second)
		var ready atomic.Bool
		got := make(chan error, 1)
		go func() {
			ready.Store(true)
			got <- c.Err()
		}()
		for !ready.Load() {
			runtime.Gosched()
		}
		c.lose()
		first := <-got
		if again := c.Err(); again != first {
			t.Fatalf("round %d: Err said %v, then %v", i, first, again)
		}
		c.finish()
	}
}

// TestAttemptCtxArmsAfterClose verifies that an attempt arming its deadline
// timer once the engine is closed (Close may shut the wheel down between
// TrySchedule's check and its push, so the timer would never fire) is
// cancelled at once instead of waiting for a deadline nothing will signal.
func TestAttemptCtxArmsAfterClose(t *testing.T) {
	e := newEngine(t)
	e.closed.Store(true) // as Close does first; the scheduler still accepts the push
	defer e.closed.Store(false)
	c := &attemptCtx{parent: context.Background(), eng: e, own: true}
	c.info.Deadline = time.Now().Add(time.Hour)
	select {
	case <-c.Done():
	default:
		t.Fatal("Done armed after Close is not closed")
	}
	if err := c.Err(); err != context.Canceled {
		t.Fatalf("Err = %v, want Canceled", err)
	}
	c.finish()
}
