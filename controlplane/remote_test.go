package controlplane

import (
	"context"
	"errors"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/regoresilience/rego/policy"
)

// newRemoteProvider opens a provider on url whose background fetches, after the
// first, happen only when the test calls the returned driver's step. Reload
// drives the rest.
func newRemoteProvider(t testing.TB, url string, opts ...RemoteOption) (*RemoteProvider, *driver) {
	t.Helper()
	d := newDriver(1)
	all := []RemoteOption{WithLogger(quietLogger())}
	for _, o := range d.opts() {
		all = append(all, o)
	}
	p, err := NewRemote(url, append(all, opts...)...)
	if err != nil {
		t.Fatalf("NewRemote: %v", err)
	}
	closeProvider(t, p)
	return p.(*RemoteProvider), d
}

// TestRemoteFirstFetch verifies that NewRemote returns with the first document
// in force.
func TestRemoteFirstFetch(t *testing.T) {
	cp := newFakeControlPlane(t, serveDoc(docV4, `"v4"`))
	p, _ := newRemoteProvider(t, cp.URL())
	s := inForce(t, p, 4, 1, SourceRemote)
	if s.Digest != digestOf([]byte(docV4)) {
		t.Errorf("Digest = %s", s.Digest)
	}
	st := statusWithin(t, p)
	if st.LastError != nil || st.LastSuccess.IsZero() || st.Source != SourceRemote {
		t.Errorf("Status = %+v", st)
	}
	if got := cp.lastINM(); got != "" {
		t.Errorf("first request sent If-None-Match %q", got)
	}
}

// TestRemoteNotModified verifies ETag handling: the server sees If-None-Match,
// answers 304 and the version stays; a changed document is a new version.
func TestRemoteNotModified(t *testing.T) {
	cp := newFakeControlPlane(t, serveDoc(docV2, `"a"`))
	p, _ := newRemoteProvider(t, cp.URL())
	inForce(t, p, 2, 1, SourceRemote)
	before := p.Status().LastSuccess

	if err := reload(t, p); err != nil {
		t.Fatalf("Reload: %v", err)
	}
	if got := cp.lastINM(); got != `"a"` {
		t.Errorf("If-None-Match = %q, want %q", got, `"a"`)
	}
	inForce(t, p, 2, 1, SourceRemote)
	if st := p.Status(); st.LastSuccess.Before(before) || st.LastError != nil {
		t.Errorf("Status after 304 = %+v", st)
	}

	cp.set(serveDoc(docV4, `"b"`))
	if err := reload(t, p); err != nil {
		t.Fatalf("Reload: %v", err)
	}
	inForce(t, p, 4, 2, SourceRemote)
	if err := reload(t, p); err != nil {
		t.Fatalf("Reload: %v", err)
	}
	if got := cp.lastINM(); got != `"b"` {
		t.Errorf("If-None-Match = %q, want %q", got, `"b"`)
	}
	inForce(t, p, 4, 2, SourceRemote)

	// A server without ETags sending the same body: not a new version, and no
	// If-None-Match is sent any more.
	cp.set(serveRaw("application/json", docV4))
	for range 2 {
		if err := reload(t, p); err != nil {
			t.Fatalf("Reload: %v", err)
		}
	}
	if got := cp.lastINM(); got != "" {
		t.Errorf("If-None-Match = %q without a server ETag", got)
	}
	inForce(t, p, 4, 2, SourceRemote)
}

// TestRemoteUnaskedNotModified verifies that a 304 to a request without
// If-None-Match is a failure, not a document.
func TestRemoteUnaskedNotModified(t *testing.T) {
	cp := newFakeControlPlane(t, serveRaw("application/json", docV2))
	p, _ := newRemoteProvider(t, cp.URL())
	cp.set(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNotModified) })
	err := reload(t, p)
	var se *StatusError
	if !errors.As(err, &se) || se.StatusCode != http.StatusNotModified || !errors.Is(err, ErrBadStatus) {
		t.Errorf("err = %v, want a 304 StatusError", err)
	}
	inForce(t, p, 2, 1, SourceRemote)
}

// downAddr returns an address on 127.0.0.1 where nothing listens.
func downAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// TestRemoteDownAtStart verifies that NewRemote returns after the initial
// timeout with the fallback in force and the error in Status, then recovers.
func TestRemoteDownAtStart(t *testing.T) {
	addr := downAddr(t)
	p, _ := newRemoteProvider(t, "http://"+addr+"/policies", WithInitialTimeout(50*time.Millisecond))
	inForce(t, p, 0, 0, SourceFallback)
	st := statusWithin(t, p)
	wantLoadError(t, st.LastError, addr)
	if st.ConsecutiveFailures < 1 || !st.LastSuccess.IsZero() {
		t.Errorf("Status = %+v", st)
	}
	if err := reload(t, p); err == nil {
		t.Fatal("Reload against a down server succeeded")
	}
	inForce(t, p, 0, 0, SourceFallback)

	newFakeControlPlaneAt(t, addr, serveDoc(docV4, `"v4"`))
	if err := reload(t, p); err != nil {
		t.Fatalf("Reload after recovery: %v", err)
	}
	inForce(t, p, 4, 1, SourceRemote)
	if st := p.Status(); st.ConsecutiveFailures != 0 {
		t.Errorf("Status = %+v", st)
	}
}

// TestRemoteFailuresKeepLastGood runs every way a control plane can fail or lie
// and checks that each is reported and the last good document stays in force.
func TestRemoteFailuresKeepLastGood(t *testing.T) {
	huge := `{"policies": {"svc.*": {"retry": {"max_attempts": 9}}}}` + strings.Repeat(" ", 2048)
	tests := []struct {
		name   string
		behave http.HandlerFunc
		is     error
		parts  []string
	}{
		{"500", serveStatus(http.StatusInternalServerError), ErrBadStatus, []string{"500"}},
		{"404", serveStatus(http.StatusNotFound), ErrBadStatus, []string{"404"}},
		{"redirect loop", func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, r.URL.Path, http.StatusFound)
		}, nil, []string{"redirect"}},
		{"garbage", serveRaw("application/json", "<html>oops</html>"), policy.ErrInvalidPolicy, []string{"malformed JSON"}},
		{"empty body", serveRaw("application/json", ""), policy.ErrInvalidPolicy, nil},
		{"invalid policy", serveRaw("application/json", docInvalid), policy.ErrInvalidPolicy,
			[]string{"svc.Op", "retry.max_attempts"}},
		{"wrong content type", serveRaw("text/html", docV5), ErrBadContentType, []string{"text/html"}},
		{"bad content type", serveRaw("json; ;", docV5), ErrBadContentType, nil},
		{"oversized with length", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", strconv.Itoa(len(huge)))
			serveRaw("application/json", huge)(w, r)
		}, ErrTooLarge, []string{"Content-Length"}},
		{"oversized chunked", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			for range 4 {
				_, _ = w.Write([]byte(huge[:512]))
				w.(http.Flusher).Flush() // no Content-Length: chunked
			}
		}, ErrTooLarge, nil},
		{"truncated", serveTruncated(docV5), nil, []string{"reading body"}},
		{"hang up", serveHangUp, nil, nil},
	}
	cp := newFakeControlPlane(t, serveDoc(docV2, `"v2"`))
	p, _ := newRemoteProvider(t, cp.URL(), WithMaxBytes(1024))
	inForce(t, p, 2, 1, SourceRemote)
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cp.set(tt.behave)
			err := reload(t, p)
			wantLoadError(t, err, append([]string{cp.srv.URL}, tt.parts...)...)
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("err = %v, want errors.Is %v", err, tt.is)
			}
			inForce(t, p, 2, 1, SourceRemote)
			st := statusWithin(t, p)
			if st.LastError == nil || st.LastError.Error() != err.Error() || st.ConsecutiveFailures != i+1 {
				t.Errorf("Status = %+v", st)
			}
		})
	}
	cp.set(serveDoc(docV5, `"v5"`))
	if err := reload(t, p); err != nil {
		t.Fatalf("Reload after the failures: %v", err)
	}
	inForce(t, p, 5, 2, SourceRemote)
	if st := p.Status(); st.ConsecutiveFailures != 0 || st.LastError == nil {
		t.Errorf("Status = %+v", st)
	}
}

// TestRemoteSlowResponse verifies that a response slower than the request
// timeout fails the fetch, and that Current and Status answer meanwhile.
func TestRemoteSlowResponse(t *testing.T) {
	cp := newFakeControlPlane(t, serveDoc(docV2, `"v2"`))
	p, _ := newRemoteProvider(t, cp.URL(), WithRequestTimeout(100*time.Millisecond))
	entered := make(chan struct{}, 1)
	release := make(chan struct{})
	defer close(release)
	cp.set(serveBlocked(entered, release))

	done := make(chan error, 1)
	go func() { done <- reload(t, p) }()
	<-entered
	inForce(t, p, 2, 1, SourceRemote) // while the handler is blocked
	statusWithin(t, p)
	err := <-done
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v, want a deadline", err)
	}
	wantLoadError(t, err, cp.srv.URL)
	inForce(t, p, 2, 1, SourceRemote)
}

// TestRemoteSlowBody verifies that the request timeout also bounds reading the
// body of a server that sends headers and then stalls.
func TestRemoteSlowBody(t *testing.T) {
	cp := newFakeControlPlane(t, serveDoc(docV2, `"v2"`))
	p, _ := newRemoteProvider(t, cp.URL(), WithRequestTimeout(100*time.Millisecond))
	release := make(chan struct{})
	defer close(release)
	cp.set(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(docV4[:10]))
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	err := reload(t, p)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v, want a deadline", err)
	}
	inForce(t, p, 2, 1, SourceRemote)
}

// TestRemoteFlapping alternates good answers, failures and lies, and checks
// which document is in force after each.
func TestRemoteFlapping(t *testing.T) {
	cp := newFakeControlPlane(t, serveDoc(docV2, `"v2"`))
	p, d := newRemoteProvider(t, cp.URL())
	steps := []struct {
		behave   http.HandlerFunc
		ok       bool
		attempts int
		version  uint64
	}{
		{serveStatus(http.StatusServiceUnavailable), false, 2, 1},
		{serveDoc(docV4, `"v4"`), true, 4, 2},
		{serveRaw("application/json", "{"), false, 4, 2},
		{serveDoc(docV4, `"v4"`), true, 4, 2}, // 304
		{serveHangUp, false, 4, 2},
		{serveDoc(docV2, `"v2"`), true, 2, 3}, // back to an old document: a new version
		{serveRaw("application/json", docInvalid), false, 2, 3},
		{serveStatus(http.StatusBadGateway), false, 2, 3},
		{serveDoc(docV5, `"v5"`), true, 5, 4},
		{serveDoc(docV5, `"v5"`), true, 5, 4},
	}
	for i, st := range steps {
		cp.set(st.behave)
		var err error
		if i%2 == 0 {
			err = reload(t, p)
		} else {
			err = d.step() // the background goroutine
		}
		if (err == nil) != st.ok {
			t.Errorf("step %d: err = %v, want ok=%v", i, err, st.ok)
		}
		inForce(t, p, st.attempts, st.version, SourceRemote)
	}
}

// TestRemoteCacheAtStart verifies the on-disk cache: written after an accepted
// version, used at start when the control plane is down, replaced by the remote
// document once it is reachable.
func TestRemoteCacheAtStart(t *testing.T) {
	cache := tempPath(t, "cache.json")
	cp := newFakeControlPlane(t, serveDoc(docV4, `"v4"`))
	p1, _ := newRemoteProvider(t, cp.URL(), WithCacheFile(cache))
	inForce(t, p1, 4, 1, SourceRemote)
	if got, err := os.ReadFile(cache); err != nil || string(got) != docV4 {
		t.Fatalf("cache = %q, %v", got, err)
	}
	p1.Close()

	addr := downAddr(t)
	p2, _ := newRemoteProvider(t, "http://"+addr+"/policies", WithCacheFile(cache),
		WithInitialTimeout(50*time.Millisecond))
	s := inForce(t, p2, 4, 1, SourceCache)
	if s.Digest != digestOf([]byte(docV4)) {
		t.Errorf("Digest = %s", s.Digest)
	}
	st := statusWithin(t, p2)
	if st.LastError == nil || st.Source != SourceCache {
		t.Errorf("Status = %+v", st)
	}
	if err := reload(t, p2); err == nil {
		t.Fatal("Reload against a down server succeeded")
	}
	inForce(t, p2, 4, 1, SourceCache)

	// Up again, with the same document: it is now the remote one.
	cp2 := newFakeControlPlaneAt(t, addr, serveDoc(docV4, `"v4"`))
	if err := reload(t, p2); err != nil {
		t.Fatal(err)
	}
	inForce(t, p2, 4, 2, SourceRemote)
	cp2.set(serveDoc(docV5, `"v5"`))
	if err := reload(t, p2); err != nil {
		t.Fatal(err)
	}
	inForce(t, p2, 5, 3, SourceRemote)
	if got, err := os.ReadFile(cache); err != nil || string(got) != docV5 {
		t.Fatalf("cache = %q, %v", got, err)
	}
	entries, err := os.ReadDir(tempDirOf(cache))
	if err != nil || len(entries) != 1 {
		t.Errorf("cache dir holds %v (%v), want only the cache file", entries, err)
	}
}

func tempDirOf(path string) string { return path[:strings.LastIndexByte(path, '/')] }

// TestRemoteCacheUnusable verifies that an invalid or missing cache file leaves
// the fallback in force.
func TestRemoteCacheUnusable(t *testing.T) {
	for _, content := range []string{"", docInvalid, docV4[:30]} {
		cache := tempPath(t, "cache.json")
		if content != "" {
			writeFile(t, cache, content)
		}
		p, _ := newRemoteProvider(t, "http://"+downAddr(t)+"/", WithCacheFile(cache),
			WithInitialTimeout(20*time.Millisecond))
		inForce(t, p, 0, 0, SourceFallback)
	}
}

// TestRemoteCacheWriteFailure verifies that a cache that cannot be written does
// not reject the document.
func TestRemoteCacheWriteFailure(t *testing.T) {
	cp := newFakeControlPlane(t, serveDoc(docV4, `"v4"`))
	p, _ := newRemoteProvider(t, cp.URL(), WithCacheFile(tempPath(t, "missing-dir/cache.json")))
	inForce(t, p, 4, 1, SourceRemote)
	if st := p.Status(); st.LastError != nil {
		t.Errorf("LastError = %v", st.LastError)
	}
}

// TestRemoteBackgroundBackoff verifies the default schedule end to end (at tiny
// intervals): failures are retried with backoff until the first success, and a
// healthy provider refreshes on its own.
func TestRemoteBackgroundBackoff(t *testing.T) {
	var calls atomic.Int64
	cp := newFakeControlPlane(t, func(w http.ResponseWriter, r *http.Request) {
		switch n := calls.Add(1); {
		case n <= 3:
			serveStatus(http.StatusServiceUnavailable)(w, r)
		case n <= 5:
			serveDoc(docV2, `"v2"`)(w, r)
		default:
			serveDoc(docV4, `"v4"`)(w, r)
		}
	})
	v2 := make(chan struct{}, 1)
	p, err := NewRemote(cp.URL(), WithLogger(quietLogger()),
		WithBackoff(time.Millisecond, 2*time.Millisecond),
		WithRefreshInterval(time.Millisecond),
		WithInitialTimeout(defaultTestTimeout),
		withAfterCycle(func(error) {
			if calls.Load() >= 6 {
				select {
				case v2 <- struct{}{}:
				default:
				}
			}
		}))
	if err != nil {
		t.Fatal(err)
	}
	closeProvider(t, p)
	// NewRemote returned at the first success, after three failures.
	if n := calls.Load(); n < 4 {
		t.Errorf("NewRemote returned after %d requests", n)
	}
	if s := p.Current(); s.Version < 1 || s.Source != SourceRemote {
		t.Errorf("snapshot = %+v", s)
	}
	select {
	case <-v2:
	case <-time.After(defaultTestTimeout):
		t.Fatal("no background refresh")
	}
	inForce(t, p, 4, 2, SourceRemote)
}

// TestRemoteCloseCancelsFetch verifies that Close does not wait for a stuck
// fetch to time out, and that Reload after Close fails with ErrClosed.
func TestRemoteCloseCancelsFetch(t *testing.T) {
	cp := newFakeControlPlane(t, serveDoc(docV2, `"v2"`))
	p, d := newRemoteProvider(t, cp.URL(), WithRequestTimeout(time.Hour))
	entered := make(chan struct{}, 1)
	release := make(chan struct{})
	defer close(release)
	cp.set(serveBlocked(entered, release))
	d.trigger <- time.Time{}
	<-entered
	closed := make(chan error, 1)
	go func() { closed <- p.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(defaultTestTimeout):
		t.Fatal("Close waited for the stuck fetch")
	}
	if err := p.Reload(context.Background()); !errors.Is(err, ErrClosed) {
		t.Errorf("Reload after Close = %v, want ErrClosed", err)
	}
	inForce(t, p, 2, 1, SourceRemote)
}

// TestRemoteReloadContext verifies that Reload gives up when its context ends.
func TestRemoteReloadContext(t *testing.T) {
	cp := newFakeControlPlane(t, serveDoc(docV2, `"v2"`))
	p, _ := newRemoteProvider(t, cp.URL())
	entered := make(chan struct{}, 1)
	release := make(chan struct{})
	defer close(release)
	cp.set(serveBlocked(entered, release))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Reload(ctx) }()
	<-entered
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("Reload = %v, want context.Canceled", err)
	}
	inForce(t, p, 2, 1, SourceRemote)
}
