package controlplane

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/regoresilience/rego/policy"
)

// newFileProvider writes content to a fresh file and opens a provider on it
// whose background polls happen only when the test calls the returned
// driver's step.
func newFileProvider(t *testing.T, content string, opts ...FileOption) (*FileProvider, string, *driver) {
	t.Helper()
	path := tempPath(t, "policies.json")
	writeFile(t, path, content)
	d := newDriver(0)
	all := []FileOption{WithLogger(quietLogger())}
	for _, o := range d.opts() {
		all = append(all, o)
	}
	p, err := NewFile(path, append(all, opts...)...)
	if err != nil {
		t.Fatalf("NewFile: %v", err)
	}
	closeProvider(t, p)
	return p.(*FileProvider), path, d
}

// TestFileLoad verifies that NewFile serves a valid document as version 1.
func TestFileLoad(t *testing.T) {
	p, _, _ := newFileProvider(t, docV2)
	s := inForce(t, p, 2, 1, SourceFile)
	if s.Digest != digestOf([]byte(docV2)) {
		t.Errorf("Digest = %s", s.Digest)
	}
	st := statusWithin(t, p)
	if st.LastError != nil || st.LastSuccess.IsZero() || st.Version != 1 {
		t.Errorf("Status = %+v", st)
	}
}

// TestNewFileErrors verifies that NewFile rejects a bad document with an error
// naming the file, the key and the field, and starts no goroutine (goleak).
func TestNewFileErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		path := dir + "/" + name
		writeFile(t, path, content)
		return path
	}
	tests := []struct {
		name  string
		path  string
		opts  []FileOption
		is    error
		parts []string
	}{
		{"invalid policy", write("invalid.json", docInvalid), nil, policy.ErrInvalidPolicy,
			[]string{"invalid.json", "svc.Op", "retry.max_attempts"}},
		{"unknown field", write("unknown.json", `{"policies": {"svc.*": {"retry": {"max_atempts": 3}}}}`), nil,
			policy.ErrInvalidPolicy, []string{"unknown.json", "svc.*", "max_atempts"}},
		{"truncated", write("truncated.json", docV4[:len(docV4)/2]), nil, policy.ErrInvalidPolicy,
			[]string{"truncated.json"}},
		{"empty", write("empty.json", ""), nil, policy.ErrInvalidPolicy, []string{"empty.json"}},
		{"missing", dir + "/missing.json", nil, fs.ErrNotExist, []string{"missing.json"}},
		{"too large", write("large.json", docV4), []FileOption{WithMaxBytes(10)}, ErrTooLarge,
			[]string{"large.json"}},
		{"directory", dir, nil, nil, []string{"not a regular file"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := NewFile(tt.path, append([]FileOption{WithLogger(quietLogger())}, tt.opts...)...)
			if p != nil {
				t.Errorf("provider = %v, want nil", p)
			}
			le := wantLoadError(t, err, tt.parts...)
			if le.Origin != tt.path {
				t.Errorf("Origin = %q, want %q", le.Origin, tt.path)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("err = %v, want errors.Is %v", err, tt.is)
			}
		})
	}
}

// TestFileValidChange verifies that a valid new version is picked up as
// version+1, and that rewriting the same content is not a new version.
func TestFileValidChange(t *testing.T) {
	p, path, _ := newFileProvider(t, docV2)
	writeFile(t, path, docV4)
	if err := reload(t, p); err != nil {
		t.Fatalf("Reload: %v", err)
	}
	inForce(t, p, 4, 2, SourceFile)
	writeFile(t, path, docV4)
	if err := reload(t, p); err != nil {
		t.Fatalf("Reload: %v", err)
	}
	inForce(t, p, 4, 2, SourceFile)
}

// TestFileInvalidChangeRejected verifies that an invalid new version is
// rejected whole: the old version stays in force and Status names the problem.
func TestFileInvalidChangeRejected(t *testing.T) {
	p, path, _ := newFileProvider(t, docV2)
	// Valid patterns and a valid policy next to an invalid one: nothing of it applies.
	writeFile(t, path, `{"policies": {"svc.*": {"retry": {"max_attempts": 7}}, "db.*": {"retry": {"multiplier": 0.5}}}}`)
	err := reload(t, p)
	wantLoadError(t, err, path, "db.*", "retry.multiplier")
	if !errors.Is(err, policy.ErrInvalidPolicy) {
		t.Errorf("err = %v", err)
	}
	inForce(t, p, 2, 1, SourceFile)
	st := statusWithin(t, p)
	if st.LastError == nil || st.LastError.Error() != err.Error() || st.ConsecutiveFailures != 1 || st.LastErrorAt.IsZero() {
		t.Errorf("Status = %+v", st)
	}

	writeFile(t, path, docV4)
	if err := reload(t, p); err != nil {
		t.Fatalf("Reload: %v", err)
	}
	inForce(t, p, 4, 2, SourceFile)
	if st := p.Status(); st.ConsecutiveFailures != 0 || st.LastError == nil {
		t.Errorf("after recovery Status = %+v (LastError stays visible)", st)
	}
}

// TestFilePartialWrite verifies that a file caught half-written never becomes
// the policy in force: the truncated version is rejected, the full one accepted.
func TestFilePartialWrite(t *testing.T) {
	p, path, d := newFileProvider(t, docV2)
	for _, cut := range []int{1, len(docV4) / 3, len(docV4) - 1} {
		writeFile(t, path, docV4[:cut])
		if err := reload(t, p); !errors.Is(err, policy.ErrInvalidPolicy) {
			t.Errorf("truncated at %d: err = %v, want ErrInvalidPolicy", cut, err)
		}
		inForce(t, p, 2, 1, SourceFile)
	}
	// The same through the watcher.
	writeFile(t, path, docV5[:len(docV5)-2])
	if err := d.step(); !errors.Is(err, policy.ErrInvalidPolicy) {
		t.Errorf("poll of a truncated file: %v", err)
	}
	inForce(t, p, 2, 1, SourceFile)
	writeFile(t, path, docV5)
	if err := d.step(); err != nil {
		t.Errorf("poll: %v", err)
	}
	inForce(t, p, 5, 2, SourceFile)
}

// TestFileRewrittenDuringRead verifies that a read during which the file
// changed is retried, so the version in force is the one finally written.
func TestFileRewrittenDuringRead(t *testing.T) {
	armed := false // set by the test goroutine before the Reload that reads it
	var path string
	p, path, _ := newFileProvider(t, docV2, withAfterRead(func() {
		if armed {
			armed = false
			// The first read saw a truncated document; the writer then finishes.
			_ = os.WriteFile(path, []byte(docV5), 0o644)
		}
	}))
	writeFile(t, path, docV4[:20])
	armed = true
	if err := reload(t, p); err != nil {
		t.Fatalf("Reload: %v", err)
	}
	inForce(t, p, 5, 2, SourceFile)
	if armed {
		t.Error("the hook did not run")
	}
}

// TestFileKeepsChanging verifies that a file that changes during every read is
// reported as ErrFileChanging and the old version stays.
func TestFileKeepsChanging(t *testing.T) {
	var mu sync.Mutex
	active := false
	n := 0
	var path string
	p, path, _ := newFileProvider(t, docV2, withAfterRead(func() {
		mu.Lock()
		defer mu.Unlock()
		if active {
			n++
			_ = os.WriteFile(path, []byte(docV4+strings.Repeat(" ", n)), 0o644)
		}
	}))
	mu.Lock()
	active = true
	mu.Unlock()
	writeFile(t, path, docV4)
	err := reload(t, p)
	if !errors.Is(err, ErrFileChanging) {
		t.Fatalf("err = %v, want ErrFileChanging", err)
	}
	wantLoadError(t, err, path)
	inForce(t, p, 2, 1, SourceFile)
}

// TestFileRemoved verifies that a deleted file keeps the last good version.
func TestFileRemoved(t *testing.T) {
	p, path, d := newFileProvider(t, docV2)
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	d.step()
	inForce(t, p, 2, 1, SourceFile)
	if st := p.Status(); !errors.Is(st.LastError, fs.ErrNotExist) {
		t.Errorf("LastError = %v", st.LastError)
	}
	writeFile(t, path, docV4)
	d.step()
	inForce(t, p, 4, 2, SourceFile)
}

// TestFileWatcherSameStatRewrite verifies that the watcher reads a file again
// after a change even when its stat looks unchanged (a rewrite within the file
// system's timestamp granularity), and then trusts the stat.
func TestFileWatcherSameStatRewrite(t *testing.T) {
	p, path, d := newFileProvider(t, docV2)
	before, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	same := strings.Replace(docV2, `"max_attempts": 2`, `"max_attempts": 3`, 1)
	writeFile(t, path, same)
	if err := os.Chtimes(path, before.ModTime(), before.ModTime()); err != nil {
		t.Fatal(err)
	}
	d.step()
	inForce(t, p, 3, 2, SourceFile)
}

// TestFileWatcherTicker verifies the default schedule: a real ticker (at a tiny
// interval) picks up a change without Reload.
func TestFileWatcherTicker(t *testing.T) {
	path := tempPath(t, "policies.json")
	writeFile(t, path, docV2)
	published := make(chan struct{}, 1)
	var p Provider
	var ready sync.WaitGroup
	ready.Add(1)
	p, err := NewFile(path, WithLogger(quietLogger()), WithPollInterval(time.Millisecond),
		withAfterCycle(func(error) {
			ready.Wait()
			if p.Current().Version == 2 {
				select {
				case published <- struct{}{}:
				default:
				}
			}
		}))
	if err != nil {
		t.Fatal(err)
	}
	ready.Done()
	closeProvider(t, p)
	writeFile(t, path, docV4)
	select {
	case <-published:
	case <-time.After(defaultTestTimeout):
		t.Fatal("change not picked up")
	}
	inForce(t, p, 4, 2, SourceFile)
}

// TestFileCurrentDuringLoad verifies that Current and Status answer while a load
// is stuck in the middle of reading the file.
func TestFileCurrentDuringLoad(t *testing.T) {
	entered := make(chan struct{})
	release := make(chan struct{})
	var armed sync.Once
	blocking := false
	p, path, _ := newFileProvider(t, docV2, withAfterRead(func() {
		if blocking {
			armed.Do(func() { close(entered); <-release })
		}
	}))
	blocking = true
	writeFile(t, path, docV4)
	done := make(chan error, 1)
	go func() { done <- reload(t, p) }()
	<-entered
	inForce(t, p, 2, 1, SourceFile)
	statusWithin(t, p)
	// A second Reload waits for the first; its context bounds the wait.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := p.Reload(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Reload with a canceled ctx while busy = %v", err)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatalf("Reload: %v", err)
	}
	inForce(t, p, 4, 2, SourceFile)
}

// TestFileClosed verifies Reload after Close and that a closed trigger ends polling.
func TestFileClosed(t *testing.T) {
	p, path, d := newFileProvider(t, docV2)
	close(d.trigger)
	writeFile(t, path, docV4)
	if err := p.Reload(context.Background()); err != nil {
		t.Fatalf("Reload: %v", err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if err := p.Reload(context.Background()); !errors.Is(err, ErrClosed) {
		t.Errorf("Reload after Close = %v, want ErrClosed", err)
	}
	inForce(t, p, 4, 2, SourceFile)
}

// TestFileWatcherSkipsUnchanged verifies that polls of an unchanged file only
// stat it once its content was confirmed by a second read.
func TestFileWatcherSkipsUnchanged(t *testing.T) {
	var reads atomic.Int64
	p, path, d := newFileProvider(t, docV2, withAfterRead(func() { reads.Add(1) }))
	reads.Store(0)
	for range 3 {
		if err := d.step(); err != nil {
			t.Fatal(err)
		}
	}
	if n := reads.Load(); n != 1 {
		t.Errorf("%d reads for 3 polls of an unchanged file, want 1 (the confirmation)", n)
	}
	writeFile(t, path, docV4)
	d.step()
	d.step()
	d.step()
	if n := reads.Load(); n != 3 {
		t.Errorf("%d reads, want 3 (1 + the change + its confirmation)", n)
	}
	inForce(t, p, 4, 2, SourceFile)
}
