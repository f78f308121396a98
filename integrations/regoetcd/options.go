package regoetcd

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/regoresilience/rego/controlplane"
)

// Defaults for NewProvider.
const (
	DefaultGetTimeout     = 3 * time.Second        // WithGetTimeout
	DefaultBackoffInitial = 250 * time.Millisecond // WithBackoff's initial
	DefaultBackoffMax     = 10 * time.Second       // WithBackoff's limit
)

// Option configures NewProvider.
type Option interface{ apply(*config) error }

type optionFunc func(*config) error

func (f optionFunc) apply(c *config) error { return f(c) }

type config struct {
	getTimeout time.Duration
	backoff    controlplane.Backoff
	// pub are passed to controlplane.NewPublisher (logger, clock, size limit,
	// cache file): the Publisher owns what they configure.
	pub    []controlplane.PublisherOption
	logger *slog.Logger

	// Test hooks, set only through export_test.go; nil in production.
	afterGet   func()         // in the goroutine, after a successful Get, before the Watch
	afterEvent func()         // in the goroutine, after anything that may change Current or Status
	rand       func() float64 // jitter source in [0,1)
}

func invalidOption(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{controlplane.ErrInvalidOption}, args...)...)
}

func positive(name string, d time.Duration) error {
	if d <= 0 {
		return invalidOption("%s must be > 0, got %v", name, d)
	}
	return nil
}

// WithGetTimeout bounds each Get of the key: the one NewProvider makes before
// it returns, and those after a reconnection or a compaction (default 3s).
// d <= 0 is an error.
func WithGetTimeout(d time.Duration) Option {
	return optionFunc(func(c *config) error {
		if err := positive("get timeout", d); err != nil {
			return err
		}
		c.getTimeout = d
		return nil
	})
}

// WithBackoff sets the retry schedule while etcd cannot be read: the n-th
// consecutive failure waits about initial·2^(n-1), capped at limit, with
// jitter (uniform in [d/2, d]): controlplane.Backoff's schedule, as
// controlplane.WithBackoff sets it for NewRemote. Defaults: 250ms, 10s.
// initial <= 0 or limit < initial is an error.
func WithBackoff(initial, limit time.Duration) Option {
	return optionFunc(func(c *config) error {
		b := controlplane.Backoff{Initial: initial, Max: limit}
		if err := b.Validate(); err != nil {
			return err
		}
		c.backoff = b
		return nil
	})
}

// WithCacheFile keeps an on-disk copy of the last good document at path, as
// controlplane.WithCacheFile does for NewRemote: rewritten atomically after each
// accepted new version, and read only when etcd cannot be reached at start
// (snapshots then have Source controlplane.SourceCache until etcd answers). An
// empty path is an error.
func WithCacheFile(path string) Option {
	return optionFunc(func(c *config) error {
		c.pub = append(c.pub, controlplane.WithCacheFile(path))
		return nil
	})
}

// WithMaxBytes caps the size of a document (default
// controlplane.DefaultMaxBytes, 1 MiB). A larger value is rejected with an
// error wrapping controlplane.ErrTooLarge and the policies in force stay.
// n <= 0 is an error.
func WithMaxBytes(n int64) Option {
	return optionFunc(func(c *config) error {
		c.pub = append(c.pub, controlplane.WithMaxBytes(n))
		return nil
	})
}

// WithLogger sets the logger for new versions, rejected documents and
// connection problems (default slog.Default()); nil is an error.
func WithLogger(l *slog.Logger) Option {
	return optionFunc(func(c *config) error {
		if l == nil {
			return invalidOption("nil logger")
		}
		c.logger = l
		c.pub = append(c.pub, controlplane.WithLogger(l))
		return nil
	})
}

// WithClock sets the clock for timestamps (Snapshot.LoadedAt,
// Status.LastSuccess, Status.LastErrorAt); default time.Now, nil is an error.
func WithClock(now func() time.Time) Option {
	return optionFunc(func(c *config) error {
		c.pub = append(c.pub, controlplane.WithClock(now))
		return nil
	})
}
