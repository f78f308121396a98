package controlplane

import (
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"time"
)

// Defaults for the file and remote providers.
const (
	DefaultPollInterval    = time.Second      // WithPollInterval
	DefaultMaxBytes        = 1 << 20          // WithMaxBytes: 1 MiB
	DefaultRequestTimeout  = 5 * time.Second  // WithRequestTimeout
	DefaultRefreshInterval = 30 * time.Second // WithRefreshInterval
	DefaultBackoffInitial  = time.Second      // WithBackoff's initial
	DefaultBackoffMax      = 30 * time.Second // WithBackoff's limit
	DefaultInitialTimeout  = 3 * time.Second  // WithInitialTimeout
)

// refreshJitter is the ± fraction applied to the remote refresh interval, so that
// a fleet started together does not hit the control plane in lockstep.
const refreshJitter = 0.10

// FileOption configures NewFile.
type FileOption interface{ applyFile(*fileConfig) error }

// RemoteOption configures NewRemote.
type RemoteOption interface{ applyRemote(*remoteConfig) error }

// Option configures NewFile, NewRemote and NewPublisher.
type Option interface {
	FileOption
	RemoteOption
	PublisherOption
}

// CacheOption configures NewRemote and NewPublisher.
type CacheOption interface {
	RemoteOption
	PublisherOption
}

// commonConfig holds the settings shared by the file and remote providers.
type commonConfig struct {
	logger   *slog.Logger
	now      func() time.Time
	trigger  <-chan time.Time
	maxBytes int64

	// Test hooks, set only through export_test.go; nil in production.
	afterRead  func()          // file: between reading and the second stat
	afterCycle func(err error) // after each background load
	rand       func() float64  // jitter source in [0,1)
}

func defaultCommon() commonConfig {
	return commonConfig{logger: slog.Default(), now: time.Now, maxBytes: DefaultMaxBytes}
}

type fileConfig struct {
	commonConfig
	pollInterval time.Duration
}

type remoteConfig struct {
	commonConfig
	client          *http.Client
	requestTimeout  time.Duration
	refreshInterval time.Duration
	backoff         Backoff
	initialTimeout  time.Duration
	cacheFile       string

	// Test hook, set only from tests; nil in production.
	afterCacheRead func() // between reading the cache file and recording its digest
}

type commonOption func(*commonConfig) error

func (f commonOption) applyFile(c *fileConfig) error     { return f(&c.commonConfig) }
func (f commonOption) applyRemote(c *remoteConfig) error { return f(&c.commonConfig) }
func (f commonOption) applyPublisher(c *publisherConfig) error {
	return f(&c.commonConfig)
}

type fileOption func(*fileConfig) error

func (f fileOption) applyFile(c *fileConfig) error { return f(c) }

type remoteOption func(*remoteConfig) error

func (f remoteOption) applyRemote(c *remoteConfig) error { return f(c) }

func invalidOption(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalidOption}, args...)...)
}

func positive(name string, d time.Duration) error {
	if d <= 0 {
		return invalidOption("%s must be > 0, got %v", name, d)
	}
	return nil
}

// WithLogger sets the logger that reports new versions, rejected documents and
// load failures. The default is slog.Default(); nil is an error. A steady failure
// is logged at Warn once, then at Debug until it changes or recovers.
func WithLogger(l *slog.Logger) Option {
	return commonOption(func(c *commonConfig) error {
		if l == nil {
			return invalidOption("nil logger")
		}
		c.logger = l
		return nil
	})
}

// WithClock sets the clock used for timestamps (Snapshot.LoadedAt,
// Status.LastSuccess, Status.LastErrorAt). The default is time.Now; nil is an error.
// Scheduling is driven by WithTrigger, not by this clock.
func WithClock(now func() time.Time) Option {
	return commonOption(func(c *commonConfig) error {
		if now == nil {
			return invalidOption("nil clock")
		}
		c.now = now
		return nil
	})
}

// WithTrigger replaces the provider's own schedule (the file poll interval; the
// remote refresh interval and backoff): the provider loads its document each time
// c delivers a value, and only then. Use it to drive reloads from a signal
// (SIGHUP), an external watcher, or a test. A closed c stops further loads; Reload
// still works. nil is an error.
func WithTrigger(c <-chan time.Time) Option {
	return commonOption(func(cc *commonConfig) error {
		if c == nil {
			return invalidOption("nil trigger channel")
		}
		cc.trigger = c
		return nil
	})
}

// WithMaxBytes caps the size of a document (default 1 MiB). A larger document is
// an error wrapping ErrTooLarge and is never read past the limit. n <= 0 is an error.
func WithMaxBytes(n int64) Option {
	return commonOption(func(c *commonConfig) error {
		if n <= 0 {
			return invalidOption("max bytes must be > 0, got %d", n)
		}
		// Readers ask for one byte more than the limit to detect an oversized
		// document: keep that from overflowing.
		c.maxBytes = min(n, math.MaxInt64-1)
		return nil
	})
}

// WithPollInterval sets how often NewFile's watcher looks at the file (default 1s).
// d <= 0 is an error.
func WithPollInterval(d time.Duration) FileOption {
	return fileOption(func(c *fileConfig) error {
		if err := positive("poll interval", d); err != nil {
			return err
		}
		c.pollInterval = d
		return nil
	})
}

// WithHTTPClient sets the client NewRemote fetches with (default: a client with
// its own clone of http.DefaultTransport, whose idle connections Close closes).
// Its Timeout, if any, applies on top of WithRequestTimeout. nil is an error.
func WithHTTPClient(c *http.Client) RemoteOption {
	return remoteOption(func(rc *remoteConfig) error {
		if c == nil {
			return invalidOption("nil HTTP client")
		}
		rc.client = c
		return nil
	})
}

// WithRequestTimeout bounds each fetch, from sending the request to reading the
// last byte (default 5s). d <= 0 is an error.
func WithRequestTimeout(d time.Duration) RemoteOption {
	return remoteOption(func(c *remoteConfig) error {
		if err := positive("request timeout", d); err != nil {
			return err
		}
		c.requestTimeout = d
		return nil
	})
}

// WithRefreshInterval sets how often NewRemote refreshes while the control plane
// is healthy (default 30s); each wait is jittered by ±10%. d <= 0 is an error.
func WithRefreshInterval(d time.Duration) RemoteOption {
	return remoteOption(func(c *remoteConfig) error {
		if err := positive("refresh interval", d); err != nil {
			return err
		}
		c.refreshInterval = d
		return nil
	})
}

// WithBackoff sets the retry schedule while the control plane fails: the n-th
// consecutive failure waits about initial·2^(n-1), capped at limit, with jitter
// (uniform in [d/2, d]). A Retry-After header on a 429 or 503 is honoured up to
// limit. Defaults: 1s, 30s. initial <= 0 or limit < initial is an error.
func WithBackoff(initial, limit time.Duration) RemoteOption {
	return remoteOption(func(c *remoteConfig) error {
		b := Backoff{Initial: initial, Max: limit}
		if err := b.Validate(); err != nil {
			return err
		}
		c.backoff = b
		return nil
	})
}

// WithInitialTimeout bounds how long NewRemote waits for the first successful
// fetch (default 3s). When it passes, NewRemote returns anyway, serving the cache
// file (WithCacheFile) if one is readable and valid, else the fallback (Set nil:
// the engine default), while fetching goes on in the background. d <= 0 is an error.
func WithInitialTimeout(d time.Duration) RemoteOption {
	return remoteOption(func(c *remoteConfig) error {
		if err := positive("initial timeout", d); err != nil {
			return err
		}
		c.initialTimeout = d
		return nil
	})
}

// WithCacheFile keeps an on-disk copy of the last good remote document at path.
// It is read only at start, when the control plane could not be reached within the
// initial timeout (snapshots then have Source SourceCache), and rewritten
// atomically (a temporary file in the same directory, fsync, rename) after each
// accepted new version. Cache write failures are logged; they never reject a
// document. With NewPublisher, Publish writes the file and LoadCache reads it.
// An empty path is an error.
func WithCacheFile(path string) CacheOption { return cacheFileOption(path) }

type cacheFileOption string

func (o cacheFileOption) check() error {
	if o == "" {
		return invalidOption("empty cache file path")
	}
	return nil
}

func (o cacheFileOption) applyRemote(c *remoteConfig) error {
	c.cacheFile = string(o)
	return o.check()
}

func (o cacheFileOption) applyPublisher(c *publisherConfig) error {
	c.cacheFile = string(o)
	return o.check()
}
