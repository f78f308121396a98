package controlplane

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/regoresilience/rego/policy"
)

// Source says where a snapshot's policies came from.
type Source string

// The sources a snapshot can have.
const (
	// SourceStatic: policies given in code to NewStatic.
	SourceStatic Source = "static"
	// SourceFile: a document read from disk by NewFile.
	SourceFile Source = "file"
	// SourceRemote: a document fetched from a control plane by NewRemote.
	SourceRemote Source = "remote"
	// SourceCache: NewRemote's on-disk copy of the last good remote document, used
	// because the control plane could not be reached at start.
	SourceCache Source = "cache"
	// SourceFallback: no valid document was ever loaded; Set is nil and the engine
	// applies its default policy.
	SourceFallback Source = "fallback"
)

// Snapshot is one published version of the policies. It is immutable once
// published: share it freely, never modify it.
type Snapshot struct {
	// Set holds the validated, normalized policies. nil means "no policies: use the
	// engine default" (a fallback snapshot).
	Set *policy.Set
	// Version strictly increases with every snapshot a provider publishes; 0 means
	// nothing was ever loaded.
	Version uint64
	// Source says where Set came from.
	Source Source
	// Digest is the hex SHA-256 of the document bytes ("" for a fallback snapshot).
	// Equal digests mean identical documents.
	Digest string
	// LoadedAt is when this snapshot was published, by the provider's clock.
	LoadedAt time.Time
	// Revision is the source's own revision of the document (etcd's mod
	// revision), 0 when the source has none (files, HTTP, the cache file).
	Revision int64
}

// Status describes a provider's health for operators. It is a copy: reading it
// takes a mutex that call sites never take, so it is cheap but not for hot paths.
type Status struct {
	// Source, Version and Digest are those of the snapshot in force.
	Source  Source
	Version uint64
	Digest  string
	// Revision is the source's revision of the latest document it accepted or
	// found identical to the one in force (etcd's mod revision); 0 when the
	// source has none.
	Revision int64
	// State is a short, provider-specific word for its link to its source, set
	// by providers that keep one open ("watching", "disconnected", ... for
	// etcd); "" for the built-in providers.
	State string
	// LastSuccess is when a load last succeeded (a new version, an unchanged
	// document, or an HTTP 304). Zero if never.
	LastSuccess time.Time
	// LastError is the most recent load failure and LastErrorAt when it happened.
	// They are kept after a later success so the failure stays visible; compare
	// LastErrorAt with LastSuccess, or read ConsecutiveFailures, to know whether the
	// provider is failing now. For NewStatic, a non-nil LastError means the policies
	// given were invalid.
	LastError   error
	LastErrorAt time.Time
	// ConsecutiveFailures counts the load failures since the last success; 0 when
	// the latest load succeeded.
	ConsecutiveFailures int
}

// Provider supplies the policies in force. Implementations must be safe for
// concurrent use.
type Provider interface {
	// Current returns the snapshot in force: one atomic load, never blocks, never nil.
	Current() *Snapshot
	// Status reports where the policies come from and how loading goes.
	Status() Status
	// Close stops any background work and waits for it to end. It is idempotent;
	// Current keeps returning the last snapshot after Close.
	Close() error
}

// Reloader is implemented by providers that can be asked to load their document
// now, outside their schedule (the file and remote providers): for operators (a
// SIGHUP handler) and for deterministic tests. Reload waits for any load in
// progress, performs one load and returns its error; a rejected document leaves the
// snapshot in force unchanged.
type Reloader interface {
	Reload(ctx context.Context) error
}

var (
	// ErrInvalidOption is wrapped by the error NewFile or NewRemote returns for an
	// invalid option (a bad URL scheme, a non-positive duration, a nil logger...).
	ErrInvalidOption = errors.New("controlplane: invalid option")
	// ErrClosed is returned by Reload after Close.
	ErrClosed = errors.New("controlplane: provider closed")

	// The errors below are causes: they arrive wrapped in a *LoadError, whose
	// message carries the package prefix and the origin.

	// ErrTooLarge means a document exceeded the configured maximum size. It was not
	// read past the limit.
	ErrTooLarge = errors.New("document too large")
	// ErrFileChanging means the file kept changing while it was being read (a writer
	// at work); the next poll tries again.
	ErrFileChanging = errors.New("file changed while being read")
	// ErrBadStatus is wrapped by *StatusError: the control plane answered with an
	// HTTP status other than 200 or 304.
	ErrBadStatus = errors.New("unexpected HTTP status")
	// ErrBadContentType means the control plane answered with a content type other
	// than application/json.
	ErrBadContentType = errors.New("unexpected content type")
)

// OriginStatic is the LoadError.Origin of NewStatic's validation error: a
// provider that can never recover, which an engine should refuse at start.
const OriginStatic = "static"

// LoadError reports a document that could not be loaded or was rejected. Origin
// names where it came from: a file path, a URL (password redacted), or
// OriginStatic.
// Err is the cause: a *policy.FieldError / policy.ErrInvalidPolicy chain naming
// the key and the field, a syntax error, an I/O error, ErrTooLarge, ...
type LoadError struct {
	Origin string
	Err    error
}

// Error returns "controlplane: ORIGIN: CAUSE".
func (e *LoadError) Error() string {
	return "controlplane: " + e.Origin + ": " + e.Err.Error()
}

// Unwrap returns the cause.
func (e *LoadError) Unwrap() error { return e.Err }

// digestOf returns the hex SHA-256 of a document.
func digestOf(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// core holds what every provider publishes. The snapshot pointer is written only
// under mu (so versions stay strictly increasing even if two loaders raced) and
// read lock-free by Current. mu also guards the status fields; call sites never
// take it.
type core struct {
	snap atomic.Pointer[Snapshot]
	now  func() time.Time // injected clock, used only for timestamps

	mu          sync.Mutex
	lastSuccess time.Time
	lastErr     error
	lastErrAt   time.Time
	failures    int
	revision    int64
	state       string
}

func (c *core) init(now func() time.Time) {
	if now == nil {
		now = time.Now
	}
	c.now = now
	c.snap.Store(&Snapshot{Source: SourceFallback})
}

// Current returns the snapshot in force: one atomic load.
func (c *core) Current() *Snapshot { return c.snap.Load() }

// Status returns a copy of the provider's status.
func (c *core) Status() Status {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.snap.Load()
	return Status{
		Source:              s.Source,
		Version:             s.Version,
		Digest:              s.Digest,
		Revision:            c.revision,
		State:               c.state,
		LastSuccess:         c.lastSuccess,
		LastError:           c.lastErr,
		LastErrorAt:         c.lastErrAt,
		ConsecutiveFailures: c.failures,
	}
}

// publish installs a new snapshot with the next version and records a success.
// The next version is revision when that is above the version in force, else
// the version in force plus one. When onlyOver is non-empty the snapshot is installed only if the one in force
// has that source (the cache must never replace a fresher remote document); ok
// says whether it was installed.
func (c *core) publish(set *policy.Set, src Source, digest string, revision int64, onlyOver Source) (snap *Snapshot, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	cur := c.snap.Load()
	if onlyOver != "" && cur.Source != onlyOver {
		return cur, false
	}
	now := c.now()
	version := cur.Version + 1
	if revision > 0 && uint64(revision) > version {
		version = uint64(revision)
	}
	snap = &Snapshot{Set: set, Version: version, Source: src, Digest: digest, LoadedAt: now, Revision: revision}
	c.snap.Store(snap)
	c.revision = revision
	c.lastSuccess = now
	c.failures = 0
	return snap, true
}

// succeed records a load that succeeded without a new version; a non-zero
// revision is the source's revision of the unchanged document.
func (c *core) succeed(revision int64) {
	c.mu.Lock()
	if revision != 0 {
		c.revision = revision
	}
	c.lastSuccess = c.now()
	c.failures = 0
	c.mu.Unlock()
}

// fail records a failed load and returns how many failed in a row, and whether
// the error differs from the previous one (to keep logs quiet on a steady failure).
func (c *core) fail(err error) (failures int, changed bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	changed = c.failures == 0 || c.lastErr == nil || c.lastErr.Error() != err.Error()
	c.lastErr = err
	c.lastErrAt = c.now()
	c.failures++
	return c.failures, changed
}

// consecutiveFailures returns the current failure streak.
func (c *core) consecutiveFailures() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.failures
}
