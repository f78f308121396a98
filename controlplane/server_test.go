package controlplane

import (
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
)

// fakeControlPlane is a real HTTP server on 127.0.0.1 whose behaviour the test
// switches between requests. It records the If-None-Match header of every request.
type fakeControlPlane struct {
	srv *httptest.Server

	mu       sync.Mutex
	behave   http.HandlerFunc // current behaviour
	inm      []string         // If-None-Match of each request, in order
	requests chan struct{}    // one value per request received (buffered)
}

func newFakeControlPlane(t testing.TB, behave http.HandlerFunc) *fakeControlPlane {
	t.Helper()
	f := &fakeControlPlane{behave: behave, requests: make(chan struct{}, 1000)}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

// newFakeControlPlaneAt starts the server on a given address (to bring a "down"
// control plane back up where clients expect it).
func newFakeControlPlaneAt(t *testing.T, addr string, behave http.HandlerFunc) *fakeControlPlane {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("cannot listen again on %s: %v", addr, err)
	}
	f := &fakeControlPlane{behave: behave, requests: make(chan struct{}, 1000)}
	f.srv = httptest.NewUnstartedServer(http.HandlerFunc(f.serve))
	f.srv.Listener.Close()
	f.srv.Listener = ln
	f.srv.Start()
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeControlPlane) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.inm = append(f.inm, r.Header.Get("If-None-Match"))
	behave := f.behave
	f.mu.Unlock()
	select {
	case f.requests <- struct{}{}:
	default:
	}
	behave(w, r)
}

func (f *fakeControlPlane) URL() string { return f.srv.URL + "/policies" }

func (f *fakeControlPlane) set(behave http.HandlerFunc) {
	f.mu.Lock()
	f.behave = behave
	f.mu.Unlock()
}

// lastINM returns the If-None-Match header of the latest request.
func (f *fakeControlPlane) lastINM() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.inm) == 0 {
		return ""
	}
	return f.inm[len(f.inm)-1]
}

func (f *fakeControlPlane) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.inm)
}

// serveDoc serves doc with an ETag and honours If-None-Match, like a real
// control plane.
func serveDoc(doc, etag string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if etag != "" {
			w.Header().Set("ETag", etag)
			if r.Header.Get("If-None-Match") == etag {
				w.WriteHeader(http.StatusNotModified)
				return
			}
		}
		_, _ = w.Write([]byte(doc))
	}
}

// serveRaw answers with the given content type and body, ignoring If-None-Match.
func serveRaw(contentType, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if contentType != "" {
			w.Header().Set("Content-Type", contentType)
		} else {
			w.Header()["Content-Type"] = nil // no sniffing
		}
		_, _ = w.Write([]byte(body))
	}
}

func serveStatus(code int) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, http.StatusText(code), code)
	}
}

// serveTruncated declares a Content-Length but sends only part of the body, then
// the server closes the connection.
func serveTruncated(doc string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", strconv.Itoa(len(doc)))
		_, _ = w.Write([]byte(doc[:len(doc)/2]))
	}
}

// serveHangUp closes the connection without answering.
func serveHangUp(w http.ResponseWriter, r *http.Request) {
	conn, _, err := w.(http.Hijacker).Hijack()
	if err == nil {
		conn.Close()
	}
}

// serveBlocked signals entered, then waits for release or the client to give up.
func serveBlocked(entered chan<- struct{}, release <-chan struct{}) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		select {
		case entered <- struct{}{}:
		default:
		}
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}
}
