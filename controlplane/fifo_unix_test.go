//go:build unix

package controlplane

import (
	"net/http"
	"os"
	"syscall"
	"testing"
	"time"
)

// mkfifo creates a FIFO at path, or skips the test where it cannot.
func mkfifo(t *testing.T, path string) {
	t.Helper()
	if err := syscall.Mkfifo(path, 0o644); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
}

// unblockFIFO opens path for writing without blocking (O_RDWR on a FIFO never
// blocks on Linux) and closes it, releasing a reader stuck in open.
func unblockFIFO(path string) {
	if f, err := os.OpenFile(path, os.O_RDWR, 0); err == nil {
		f.Close()
	}
}

// TestNewFileRejectsFIFO verifies that NewFile on a FIFO returns an error
// instead of blocking in open until a writer shows up.
func TestNewFileRejectsFIFO(t *testing.T) {
	path := tempPath(t, "fifo.json")
	mkfifo(t, path)
	done := make(chan error, 1)
	go func() {
		p, err := NewFile(path, WithLogger(quietLogger()))
		if p != nil {
			p.Close()
		}
		done <- err
	}()
	select {
	case err := <-done:
		wantLoadError(t, err, "not a regular file")
	case <-time.After(defaultTestShortTimeout):
		unblockFIFO(path)
		<-done
		t.Fatal("NewFile blocked opening a FIFO")
	}
}

// TestFileReplacedByFIFOKeepsLastGood verifies that a policy file replaced by a
// FIFO fails the poll and keeps the last good version, instead of blocking the
// watcher in open (and Close, which waits for the watcher, with it).
func TestFileReplacedByFIFOKeepsLastGood(t *testing.T) {
	p, path, d := newFileProvider(t, docV2)
	tmp := path + ".fifo"
	mkfifo(t, tmp)
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
	stepped := make(chan error, 1)
	go func() { stepped <- d.step() }()
	select {
	case err := <-stepped:
		wantLoadError(t, err, "not a regular file")
	case <-time.After(defaultTestShortTimeout):
		unblockFIFO(path)
		<-stepped
		t.Fatal("poll blocked opening a FIFO (Close would wait forever)")
	}
	inForce(t, p, 2, 1, SourceFile)
}

// TestRemoteCacheFIFOIgnored verifies that a cache path that is a FIFO is
// skipped as unusable when the control plane is down at start, instead of
// blocking NewRemote.
func TestRemoteCacheFIFOIgnored(t *testing.T) {
	cache := tempPath(t, "cache.json")
	mkfifo(t, cache)
	cp := newFakeControlPlane(t, serveStatus(http.StatusServiceUnavailable))
	created := make(chan Provider, 1)
	go func() {
		p, _ := NewRemote(cp.URL(), WithLogger(quietLogger()), WithCacheFile(cache), WithInitialTimeout(time.Millisecond))
		created <- p
	}()
	select {
	case p := <-created:
		closeProvider(t, p)
		inForce(t, p, 0, 0, SourceFallback)
	case <-time.After(defaultTestShortTimeout):
		unblockFIFO(cache)
		p := <-created
		p.Close()
		t.Fatal("NewRemote blocked reading a FIFO cache file")
	}
}
