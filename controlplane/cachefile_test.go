package controlplane

import (
	"net/http"
	"os"
	"testing"
	"time"
)

// withAfterCacheRead runs f in NewRemote between reading the cache file and
// recording its digest.
func withAfterCacheRead(f func()) RemoteOption {
	return remoteOption(func(c *remoteConfig) error { c.afterCacheRead = f; return nil })
}

// TestCacheFileFollowsDocumentInForceAfterStartRace verifies that the cache
// file keeps up with the document in force when NewRemote reads the cache file
// (old document A) while the first successful fetch (B) rewrites it: NewRemote
// must not record A as the cache file's digest, or when the control plane later
// serves A again the write is skipped and the cache keeps B.
func TestCacheFileFollowsDocumentInForceAfterStartRace(t *testing.T) {
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
