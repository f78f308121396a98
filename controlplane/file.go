package controlplane

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"
)

// FileProvider serves the policies of a JSON document on disk and reloads it when
// it changes. NewFile returns one as a Provider; type-assert to *FileProvider (or
// to Reloader) to call Reload. Safe for concurrent use.
type FileProvider struct {
	pub *Publisher
	loader
	path string
	cfg  fileConfig

	// Owned by the sem holder: what the last read saw, so a poll can skip reading
	// a file whose stat has not changed.
	seen      os.FileInfo // stat of the last content read; nil before the first read
	seenHash  string      // digest of that content
	confirmed bool        // two reads with the same stat saw the same content
}

var _ Reloader = (*FileProvider)(nil)

// NewFile loads the policy document at path, validates it and returns a provider
// serving it (a *FileProvider; Source SourceFile, Version 1). A missing, unreadable, oversized or
// invalid document is an error: a *LoadError naming the file, whose cause names
// the key and the field (errors.Is(err, policy.ErrInvalidPolicy) for an invalid
// policy). Invalid options are errors wrapping ErrInvalidOption.
//
// The provider then watches the file by polling (WithPollInterval, default 1s, or
// WithTrigger). Each poll stats the file and reads it when its modification time,
// size or identity changed — and once more after a change, to catch a rewrite
// within the file system's timestamp granularity. A read during which the file's
// stat changed is retried once, then reported as ErrFileChanging. Content whose
// hash matches the document in force is not a new version. A new valid document
// is published atomically as Version+1; an invalid one — including a document
// caught half-written, which fails to parse — is rejected whole, the previous
// snapshot stays in force and the error goes to Status and the logger.
//
// Writers should replace the file atomically (write a temporary file, rename
// it over the old one). An in-place rewrite never puts a partial document in
// force (it fails to parse and is rejected), but one that keeps the file's
// size and lands within the file system's timestamp granularity of the
// previous change can go unnoticed until the next change: the watcher trusts
// size and modification time once it has re-read a change.
// Close stops the watcher.
func NewFile(path string, opts ...FileOption) (Provider, error) {
	cfg := fileConfig{commonConfig: defaultCommon(), pollInterval: DefaultPollInterval}
	for _, o := range opts {
		if o == nil {
			return nil, invalidOption("nil FileOption")
		}
		if err := o.applyFile(&cfg); err != nil {
			return nil, err
		}
	}
	if path == "" {
		return nil, invalidOption("empty file path")
	}
	p := &FileProvider{path: path, cfg: cfg, loader: newLoader()}
	p.pub = newPublisher(path, publisherConfig{commonConfig: cfg.commonConfig})
	p.sem <- struct{}{}
	_, err := p.load(true)
	p.release()
	if err != nil {
		p.cancel()
		return nil, err
	}
	go p.watch()
	return p, nil
}

// Current returns the snapshot in force: one atomic load.
func (p *FileProvider) Current() *Snapshot { return p.pub.Current() }

// Status returns a copy of the provider's status.
func (p *FileProvider) Status() Status { return p.pub.Status() }

// Close stops the watcher and waits for it. Idempotent; Current keeps returning
// the last snapshot.
func (p *FileProvider) Close() error { return p.close(nil) }

// Reload reads the file now, whatever its stat says, and publishes it if it is
// valid and differs from the document in force. It returns the load error, if
// any (the snapshot in force is then unchanged), ctx's error if ctx ended while
// waiting for a load in progress, or ErrClosed after Close.
func (p *FileProvider) Reload(ctx context.Context) error {
	if err := p.acquire(ctx); err != nil {
		return err
	}
	defer p.release()
	_, err := p.load(true)
	return err
}

// watch is the provider's goroutine: it polls until Close.
func (p *FileProvider) watch() {
	defer close(p.done)
	tick := p.cfg.trigger
	if tick == nil {
		t := time.NewTicker(p.cfg.pollInterval)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-p.ctx.Done():
			return
		case _, ok := <-tick:
			if !ok {
				tick = nil // closed trigger: no more polls, wait for Close
				continue
			}
		}
		if p.acquire(p.ctx) != nil {
			return
		}
		_, err := p.load(false)
		p.release()
		if p.cfg.afterCycle != nil {
			p.cfg.afterCycle(err)
		}
	}
}

// load performs one poll; the caller holds sem. With force it reads the file even
// if its stat is unchanged. It reports whether a new snapshot was published.
func (p *FileProvider) load(force bool) (bool, error) {
	if !force && p.seen != nil && p.confirmed {
		fi, err := os.Stat(p.path)
		if err != nil {
			return false, p.failed(err)
		}
		if sameStat(fi, p.seen) {
			return false, nil
		}
	}
	data, fi, err := p.readStable()
	if err != nil {
		return false, p.failed(err)
	}
	digest := digestOf(data)
	p.confirmed = p.seen != nil && sameStat(fi, p.seen) && digest == p.seenHash
	p.seen, p.seenHash = fi, digest

	_, changed, err := p.pub.accept(data, digest, SourceFile, 0)
	if err != nil {
		return false, p.failed(err)
	}
	return changed, nil
}

// failed wraps err with the file name, records it and logs it.
func (p *FileProvider) failed(err error) error {
	if cur := p.Current(); cur.Version == 0 {
		// NewFile reports it; nothing is in force to keep.
		return &LoadError{Origin: p.path, Err: err}
	}
	return p.pub.RecordFailure(err)
}

// readStable reads the whole file, at most maxBytes, and returns it with the stat
// taken after the read. If the file's stat changed during the read (a writer at
// work, or the file replaced) it reads once more; if it changed again it returns
// ErrFileChanging.
func (p *FileProvider) readStable() ([]byte, os.FileInfo, error) {
	for range 2 {
		data, before, err := p.readOnce()
		if err != nil {
			return nil, nil, err
		}
		if p.cfg.afterRead != nil {
			p.cfg.afterRead()
		}
		after, err := os.Stat(p.path)
		if err != nil {
			return nil, nil, err
		}
		if sameStat(before, after) && int64(len(data)) == after.Size() {
			return data, after, nil
		}
	}
	return nil, nil, ErrFileChanging
}

func (p *FileProvider) readOnce() ([]byte, os.FileInfo, error) {
	f, fi, err := openRegular(p.path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	if fi.Size() > p.cfg.maxBytes {
		return nil, nil, fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, fi.Size(), p.cfg.maxBytes)
	}
	data, err := io.ReadAll(io.LimitReader(f, p.cfg.maxBytes+1))
	if err != nil {
		return nil, nil, err
	}
	if int64(len(data)) > p.cfg.maxBytes {
		return nil, nil, fmt.Errorf("%w: more than %d bytes", ErrTooLarge, p.cfg.maxBytes)
	}
	return data, fi, nil
}

// openRegular opens path for reading, and returns it with its stat, only if it
// is a regular file. It checks before opening as well as after: opening a FIFO
// blocks until a writer shows up, which would hang NewFile, the watcher (and so
// Close) or NewRemote reading its cache file.
func openRegular(path string) (*os.File, os.FileInfo, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, nil, fmt.Errorf("not a regular file (%v)", fi.Mode().Type())
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	if fi, err = f.Stat(); err != nil {
		f.Close()
		return nil, nil, err
	}
	if !fi.Mode().IsRegular() { // replaced between the two calls
		f.Close()
		return nil, nil, fmt.Errorf("not a regular file (%v)", fi.Mode().Type())
	}
	return f, fi, nil
}

// sameStat reports whether two stats describe the same, unchanged file.
func sameStat(a, b os.FileInfo) bool {
	return os.SameFile(a, b) && a.Size() == b.Size() && a.ModTime().Equal(b.ModTime())
}
