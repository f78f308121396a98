package engine

import (
	"context"
	"time"
)

// sleep waits d on the shared wheel. The caller's context and Close win.
// Waits shorter than two ticks use a timer of their own: the wheel would round
// them up to whole ticks, which for a sub-millisecond backoff multiplies it.
func (e *Engine) sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	if d < 2*e.sched.Tick() {
		t := e.clock.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C():
			return nil
		case <-ctx.Done():
			return ctx.Err()
		case <-e.done:
			return ErrClosed
		}
	}
	w := make(wakeup, 1)
	h, err := e.sched.TrySchedule(d, w)
	if err != nil {
		return ErrClosed
	}
	select {
	case <-w:
		return nil
	case <-ctx.Done():
		h.Stop()
		return ctx.Err()
	case <-e.done:
		h.Stop()
		return ErrClosed
	}
}

// wakeup is a Task that signals a waiting goroutine; the send never blocks the wheel.
type wakeup chan struct{}

func (w wakeup) Run() {
	select {
	case w <- struct{}{}:
	default:
	}
}
