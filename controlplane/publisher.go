package controlplane

import (
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"

	"github.com/regoresilience/rego/policy"
)

// Publisher is the last-known-good machinery the file and remote providers are
// built on, for providers written outside this package (an etcd watch, a
// message bus, a sidecar's socket). The provider owns the transport — reading,
// watching, retrying — and hands every document it receives to Publish; the
// Publisher owns everything after that:
//
//   - the size limit (WithMaxBytes): a larger document is rejected with ErrTooLarge;
//   - validation: the whole document must parse and validate
//     ([policy.ParseDocument]), or it is rejected whole;
//   - publishing: an accepted document becomes the next [Snapshot], atomically;
//     a document identical to the one in force is not a new version;
//   - last known good: a rejected document, and every failure the provider
//     reports through RecordFailure, leave the snapshot in force untouched and
//     are recorded in [Status] and logged (Warn when a failure streak starts or
//     changes, Debug while it repeats);
//   - the optional cache file (WithCacheFile): each accepted document is written
//     to it atomically, and LoadCache installs it when the source cannot be
//     reached at start.
//
// Current and Status have the meaning [Provider] gives them, so a provider can
// embed a *Publisher and add only Close. A Publisher owns no goroutine and has
// nothing to close.
//
// Safe for concurrent use. Current is one atomic load; the other methods take a
// mutex that Current never takes. Versions strictly increase even when two
// goroutines publish at once.
type Publisher struct {
	core
	origin string
	cfg    publisherConfig

	// cacheDigest is the digest of the document in the cache file (nil: unknown).
	// Written after each cache write and by LoadCache; atomic because a
	// provider may publish while LoadCache runs.
	cacheDigest atomic.Pointer[string]
}

// PublisherOption configures NewPublisher. WithLogger, WithClock, WithMaxBytes
// and WithCacheFile apply to a Publisher; WithTrigger does not (a Publisher has
// no schedule) and is an error.
type PublisherOption interface{ applyPublisher(*publisherConfig) error }

type publisherConfig struct {
	commonConfig
	cacheFile string

	// Test hook, set only from tests; nil in production.
	afterCacheRead func() // between reading the cache file and recording its digest
}

// ErrNoCacheFile is returned by LoadCache when no cache file was configured.
var ErrNoCacheFile = errors.New("controlplane: no cache file configured")

// NewPublisher returns a Publisher whose snapshot in force is the fallback
// (Version 0, Set nil: the engine default) until the first Publish or
// LoadCache. origin names the source in errors and logs (a key, a URL, a
// path; never a secret): every error the Publisher records is a *LoadError with
// that Origin. An empty origin, WithTrigger and other invalid options are errors
// wrapping ErrInvalidOption.
func NewPublisher(origin string, opts ...PublisherOption) (*Publisher, error) {
	cfg := publisherConfig{commonConfig: defaultCommon()}
	for _, o := range opts {
		if o == nil {
			return nil, invalidOption("nil PublisherOption")
		}
		if err := o.applyPublisher(&cfg); err != nil {
			return nil, err
		}
	}
	if cfg.trigger != nil {
		return nil, invalidOption("WithTrigger does not apply to a Publisher: the provider schedules its own loads")
	}
	if origin == "" {
		return nil, invalidOption("empty origin")
	}
	return newPublisher(origin, cfg), nil
}

// newPublisher builds a Publisher from an already validated configuration.
func newPublisher(origin string, cfg publisherConfig) *Publisher {
	p := &Publisher{origin: origin, cfg: cfg}
	p.init(cfg.now)
	return p
}

// Publish validates doc, which came from src, and publishes it as the next
// snapshot. It returns the snapshot in force after the call: the new one, or
// the one kept.
//
// revision is the source's own revision of doc (etcd's mod revision), 0 if the
// source has none. It is recorded in Snapshot.Revision and Status.Revision, and
// the new snapshot's Version is revision when that is above the version in force
// (so operators see the same number in both places), else the version in force
// plus one: versions strictly increase even if the source's revisions restart.
//
// A document identical to the one in force from the same source is not a new
// version: it counts as a success, and its revision becomes Status.Revision. A
// document over the size limit or failing validation is rejected whole: the
// returned error is a *LoadError (Origin as given to NewPublisher) wrapping
// ErrTooLarge or the policy error (errors.Is(err, policy.ErrInvalidPolicy)),
// and it is recorded as by RecordFailure.
//
// With a cache file, an accepted document is written to it before Publish
// returns; a failed write is logged and does not reject the document.
func (p *Publisher) Publish(doc []byte, src Source, revision int64) (*Snapshot, error) {
	snap, _, err := p.accept(doc, digestOf(doc), src, revision)
	if err != nil {
		return snap, p.RecordFailure(err)
	}
	return snap, nil
}

// accept is Publish without recording a rejection: the caller decides (NewFile
// reports a bad first document as its own error). It returns the snapshot in
// force, whether it is new, and the bare cause of a rejection.
func (p *Publisher) accept(doc []byte, digest string, src Source, revision int64) (*Snapshot, bool, error) {
	if int64(len(doc)) > p.cfg.maxBytes {
		return p.Current(), false, fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, len(doc), p.cfg.maxBytes)
	}
	if cur := p.Current(); cur.Source == src && cur.Digest == digest {
		p.succeed(revision)
		return cur, false, nil
	}
	set, err := policy.ParseDocument(doc)
	if err != nil {
		return p.Current(), false, err
	}
	snap, _ := p.publish(set, src, digest, revision, "")
	p.logUpdate(snap)
	p.writeCache(doc, digest)
	return snap, true, nil
}

// RecordSuccess records a load that succeeded without a new document (an HTTP
// 304, a reconnection that found the document in force unchanged): it ends a
// failure streak and sets Status.LastSuccess.
func (p *Publisher) RecordSuccess() { p.succeed(0) }

// RecordFailure records a failed load and logs it; the snapshot in force stays.
// It returns err as a *LoadError with the Publisher's origin (err itself if it
// already is one), the value Status().LastError then holds. A nil err is
// ignored and returns nil.
func (p *Publisher) RecordFailure(err error) error {
	if err == nil {
		return nil
	}
	var le *LoadError
	if !errors.As(err, &le) {
		err = &LoadError{Origin: p.origin, Err: err}
	}
	n, changed := p.fail(err)
	cur := p.Current()
	logFailure(p.cfg.logger, changed, "controlplane: policy load failed, keeping the policies in force", err,
		slog.String("origin", p.origin),
		slog.Uint64("version_in_force", cur.Version),
		slog.String("source_in_force", string(cur.Source)),
		slog.Int("consecutive_failures", n))
	return err
}

// SetState sets Status.State, a short word for the provider's link to its
// source ("watching", "disconnected", ...). It records nothing else.
func (p *Publisher) SetState(state string) {
	p.mu.Lock()
	p.state = state
	p.mu.Unlock()
}

// LoadCache installs the cache file's document (Source SourceCache) if no
// document is in force yet, for a provider whose source could not be reached at
// start. It reports whether it installed it: false with a nil error when a
// document was published meanwhile (the cache never replaces a fresher one).
// Errors: ErrNoCacheFile without WithCacheFile; a missing, oversized or invalid
// cache file. They are returned, not recorded: the source's failure is the one
// Status should show.
func (p *Publisher) LoadCache() (bool, error) {
	if p.cfg.cacheFile == "" {
		return false, ErrNoCacheFile
	}
	data, err := readFileLimited(p.cfg.cacheFile, p.cfg.maxBytes)
	var set *policy.Set
	if err == nil {
		set, err = policy.ParseDocument(data)
	}
	if err != nil {
		return false, fmt.Errorf("cache file %s: %w", p.cfg.cacheFile, err)
	}
	if p.cfg.afterCacheRead != nil {
		p.cfg.afterCacheRead()
	}
	digest := digestOf(data)
	// A Publish may have rewritten the cache file since we read it, and recorded
	// the digest of what it wrote: ours is then stale, and storing it would make
	// writeCache skip writing that older document when it comes back.
	p.cacheDigest.CompareAndSwap(nil, &digest)
	snap, ok := p.publish(set, SourceCache, digest, 0, SourceFallback)
	if ok {
		p.cfg.logger.Warn("controlplane: source not reachable at start; serving the cached policies",
			slog.String("origin", p.origin), slog.String("cache_file", p.cfg.cacheFile),
			slog.Uint64("version", snap.Version), slog.String("digest", shortDigest(digest)))
	}
	return ok, nil
}

// writeCache stores an accepted document in the cache file, if one is configured
// and it does not hold that document already. Failures are only logged.
func (p *Publisher) writeCache(data []byte, digest string) {
	if p.cfg.cacheFile == "" {
		return
	}
	if d := p.cacheDigest.Load(); d != nil && *d == digest {
		return
	}
	if err := writeFileAtomic(p.cfg.cacheFile, data); err != nil {
		p.cfg.logger.Warn("controlplane: writing the policy cache file failed",
			slog.String("cache_file", p.cfg.cacheFile), slog.Any("err", err))
		return
	}
	p.cacheDigest.Store(&digest)
}

// logUpdate logs a new version in force.
func (p *Publisher) logUpdate(s *Snapshot) {
	attrs := []any{slog.String("origin", p.origin),
		slog.Uint64("version", s.Version),
		slog.String("source", string(s.Source)),
		slog.String("digest", shortDigest(s.Digest)),
		slog.Int("patterns", s.Set.Len())}
	if s.Revision != 0 {
		attrs = append(attrs, slog.Int64("revision", s.Revision))
	}
	p.cfg.logger.Info("controlplane: policies updated", attrs...)
}
