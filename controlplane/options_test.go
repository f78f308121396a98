package controlplane

import (
	"errors"
	"net/http"
	"testing"
	"time"
)

// TestRemoteInvalidOptions verifies that NewRemote rejects bad URLs and options
// with ErrInvalidOption, before starting anything (goleak).
func TestRemoteInvalidOptions(t *testing.T) {
	tests := []struct {
		name string
		url  string
		opts []RemoteOption
	}{
		{"ftp scheme", "ftp://127.0.0.1/p", nil},
		{"no scheme", "127.0.0.1:8700/p", nil},
		{"no host", "http:///p", nil},
		{"unparsable", "http://[::1", nil},
		{"empty", "", nil},
		{"nil option", "http://127.0.0.1/", []RemoteOption{nil}},
		{"zero request timeout", "http://127.0.0.1/", []RemoteOption{WithRequestTimeout(0)}},
		{"negative refresh", "http://127.0.0.1/", []RemoteOption{WithRefreshInterval(-time.Second)}},
		{"zero initial timeout", "http://127.0.0.1/", []RemoteOption{WithInitialTimeout(0)}},
		{"zero backoff", "http://127.0.0.1/", []RemoteOption{WithBackoff(0, time.Second)}},
		{"backoff max < initial", "http://127.0.0.1/", []RemoteOption{WithBackoff(time.Second, time.Millisecond)}},
		{"zero max bytes", "http://127.0.0.1/", []RemoteOption{WithMaxBytes(0)}},
		{"nil client", "http://127.0.0.1/", []RemoteOption{WithHTTPClient(nil)}},
		{"nil logger", "http://127.0.0.1/", []RemoteOption{WithLogger(nil)}},
		{"nil clock", "http://127.0.0.1/", []RemoteOption{WithClock(nil)}},
		{"nil trigger", "http://127.0.0.1/", []RemoteOption{WithTrigger(nil)}},
		{"empty cache path", "http://127.0.0.1/", []RemoteOption{WithCacheFile("")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := NewRemote(tt.url, tt.opts...)
			if !errors.Is(err, ErrInvalidOption) || p != nil {
				t.Errorf("NewRemote = %v, %v; want ErrInvalidOption", p, err)
			}
		})
	}
}

// TestFileInvalidOptions verifies NewFile's option checks.
func TestFileInvalidOptions(t *testing.T) {
	path := tempPath(t, "p.json")
	writeFile(t, path, docV2)
	for name, opts := range map[string][]FileOption{
		"zero poll":      {WithPollInterval(0)},
		"negative poll":  {WithPollInterval(-time.Second)},
		"nil option":     {nil},
		"nil logger":     {WithLogger(nil)},
		"zero max bytes": {WithMaxBytes(-1)},
	} {
		if p, err := NewFile(path, opts...); !errors.Is(err, ErrInvalidOption) || p != nil {
			t.Errorf("%s: NewFile = %v, %v; want ErrInvalidOption", name, p, err)
		}
	}
	if _, err := NewFile(""); !errors.Is(err, ErrInvalidOption) {
		t.Errorf("empty path: %v", err)
	}
}

// TestWithHTTPClientAndClock verifies that a given client is used (and not
// closed by Close) and that the injected clock stamps snapshots and status.
func TestWithHTTPClientAndClock(t *testing.T) {
	cp := newFakeControlPlane(t, serveDoc(docV2, `"v2"`))
	used := false
	client := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		used = true
		return http.DefaultTransport.RoundTrip(r)
	})}
	at := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	p, _ := newRemoteProvider(t, cp.URL(), WithHTTPClient(client), WithClock(func() time.Time { return at }))
	if !used {
		t.Error("the given client was not used")
	}
	if s := p.Current(); !s.LoadedAt.Equal(at) {
		t.Errorf("LoadedAt = %v", s.LoadedAt)
	}
	if st := p.Status(); !st.LastSuccess.Equal(at) {
		t.Errorf("LastSuccess = %v", st.LastSuccess)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
