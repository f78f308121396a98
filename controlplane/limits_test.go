package controlplane

import (
	"math"
	"net/http"
	"os"
	"testing"
	"time"
)

// TestMaxBytesWithoutLimit verifies that WithMaxBytes(math.MaxInt64), meaning
// no limit, reads whole documents: the readers' limit+1 must not wrap negative,
// which would make every read return nothing (NewFile failing with
// ErrFileChanging, every remote body empty).
func TestMaxBytesWithoutLimit(t *testing.T) {
	path := tempPath(t, "p.json")
	writeFile(t, path, docV2)
	p, err := NewFile(path, WithLogger(quietLogger()), WithMaxBytes(math.MaxInt64))
	if err != nil {
		t.Fatalf("NewFile: %v", err)
	}
	closeProvider(t, p)
	inForce(t, p, 2, 1, SourceFile)

	cp := newFakeControlPlane(t, serveDoc(docV4, `"v4"`))
	r, _ := newRemoteProvider(t, cp.URL(), WithMaxBytes(math.MaxInt64))
	inForce(t, r, 4, 1, SourceRemote)
}

// TestHugeRefreshIntervalDoesNotWrap verifies that a huge refresh interval
// (meant as "never") plus positive jitter stays a huge delay: wrapping to a
// negative one would make a busy fetch loop.
func TestHugeRefreshIntervalDoesNotWrap(t *testing.T) {
	for _, u := range []float64{0, 0.5, 0.99} {
		got := nextDelay(0, time.Duration(math.MaxInt64), time.Second, time.Minute, 0, u)
		if got < time.Duration(math.MaxInt64)/10*8 {
			t.Errorf("nextDelay(refresh=MaxInt64, u=%v) = %v, want at least 0.8 x MaxInt64", u, got)
		}
	}
}

// withAfterCacheRead runs f in NewRemote between reading the cache file and
// recording its digest.
func withAfterCacheRead(f func()) RemoteOption {
	return remoteOption(func(c *remoteConfig) error { c.afterCacheRead = f; return nil })
}

// TestCacheDigestWhenFetchRewritesCache verifies the cache file's digest when
// NewRemote reads the cache file (old document A) while the first successful
// fetch (B) rewrites it. NewRemote must not then record A as the cache file's
// digest, or when the control plane later serves A again writeCache believes
// the file already holds A and skips the write: the cache keeps B, not the
// document in force.
func TestCacheDigestWhenFetchRewritesCache(t *testing.T) {
	cache := tempPath(t, "cache.json")
	writeFile(t, cache, docV2)
	cp := newFakeControlPlane(t, serveStatus(http.StatusServiceUnavailable))
	d := newDriver(1)
	entered, release := make(chan struct{}), make(chan struct{})
	opts := []RemoteOption{WithLogger(quietLogger()), WithCacheFile(cache), WithInitialTimeout(time.Millisecond),
		withAfterCacheRead(func() { close(entered); <-release })}
	for _, o := range d.opts() {
		opts = append(opts, o)
	}
	type result struct {
		p   Provider
		err error
	}
	created := make(chan result, 1)
	go func() {
		p, err := NewRemote(cp.URL(), opts...)
		created <- result{p, err}
	}()
	<-entered // NewRemote has read docV2 from the cache file
	cp.set(serveDoc(docV4, `"v4"`))
	err := d.step() // publishes docV4 and writes it to the cache file
	close(release)
	r := <-created
	if r.err != nil {
		t.Fatal(r.err)
	}
	closeProvider(t, r.p)
	if err != nil {
		t.Fatalf("fetch: %v", err)
	}
	inForce(t, r.p, 4, 1, SourceRemote)

	cp.set(serveDoc(docV2, `"v2"`))
	if err := d.step(); err != nil {
		t.Fatal(err)
	}
	inForce(t, r.p, 2, 2, SourceRemote)
	if got, err := os.ReadFile(cache); err != nil || string(got) != docV2 {
		t.Fatalf("cache file = %q, %v; want the document in force %q", got, err, docV2)
	}
}
