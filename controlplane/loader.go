package controlplane

import (
	"context"
	"log/slog"
	"sync"
)

// loader is the machinery shared by the file and remote providers: the
// background goroutine's lifetime and the semaphore that serialises loads.
//
// The goroutine is owned by the provider: it starts in the constructor, its life
// is ctx, and Close cancels ctx and waits for done. sem (capacity 1) is held by
// whoever is loading — the goroutine or a Reload caller — so the per-load state of
// each provider (marked "owned by the sem holder") needs no other lock.
type loader struct {
	ctx       context.Context
	cancel    context.CancelFunc
	done      chan struct{}
	sem       chan struct{}
	closeOnce sync.Once
}

func newLoader() loader {
	ctx, cancel := context.WithCancel(context.Background())
	return loader{ctx: ctx, cancel: cancel, done: make(chan struct{}), sem: make(chan struct{}, 1)}
}

// acquire takes the load semaphore, giving up when ctx ends or the provider closes.
func (l *loader) acquire(ctx context.Context) error {
	if l.ctx.Err() != nil {
		return ErrClosed
	}
	select {
	case l.sem <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	case <-l.ctx.Done():
		return ErrClosed
	}
	if l.ctx.Err() != nil {
		<-l.sem
		return ErrClosed
	}
	return nil
}

func (l *loader) release() { <-l.sem }

// joinCtx returns a context that ends when either ctx or the provider ends, so a
// Reload in flight stops promptly on Close.
func (l *loader) joinCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(l.ctx, cancel)
	return ctx, func() { stop(); cancel() }
}

// close stops the goroutine and waits for it; idempotent.
func (l *loader) close(cleanup func()) error {
	l.closeOnce.Do(func() {
		l.cancel()
		<-l.done
		if cleanup != nil {
			cleanup()
		}
	})
	return nil
}

// logFailure logs a load failure: at Warn when a failure streak starts or its
// error changes, at Debug while the same failure repeats, so a dead control plane
// or a broken file does not flood the log.
func logFailure(l *slog.Logger, changed bool, msg string, err error, attrs ...any) {
	level := slog.LevelDebug
	if changed {
		level = slog.LevelWarn
	}
	l.Log(context.Background(), level, msg, append(attrs, slog.Any("err", err))...)
}

func shortDigest(d string) string {
	if len(d) > 12 {
		return d[:12]
	}
	return d
}
