package regohttp_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/regoresilience/rego"
	"github.com/regoresilience/rego/controlplane"
	"github.com/regoresilience/rego/engine"
	"github.com/regoresilience/rego/integrations/regohttp"
	"github.com/regoresilience/rego/observe"
	"github.com/regoresilience/rego/policy"
)

// defaultTestTimeout bounds waits for things that must happen; a test that
// hits it has failed, it does not pace anything.
const defaultTestTimeout = 10 * time.Second

// fast is a policy with tiny backoffs, using the HTTP classifier.
func fast(attempts int) policy.Policy {
	return policy.Policy{
		Retry: policy.Retry{MaxAttempts: attempts, InitialBackoff: time.Millisecond, MaxBackoff: 2 * time.Millisecond,
			MaxRetryAfter: 5 * time.Millisecond},
		Classifier: regohttp.ClassifierName,
	}
}

// timelines is an observer that keeps every finished call's timeline.
type timelines struct {
	observe.Base
	mu  sync.Mutex
	tls []*observe.Timeline
}

func (o *timelines) OnSuccess(_ context.Context, tl *observe.Timeline) { o.add(tl) }
func (o *timelines) OnFailure(_ context.Context, tl *observe.Timeline) { o.add(tl) }
func (o *timelines) add(tl *observe.Timeline) {
	o.mu.Lock()
	o.tls = append(o.tls, tl)
	o.mu.Unlock()
}

// only returns the one timeline recorded, failing the test otherwise.
func (o *timelines) only(t testing.TB) *observe.Timeline {
	t.Helper()
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.tls) != 1 {
		t.Fatalf("recorded %d timelines; want 1", len(o.tls))
	}
	return o.tls[0]
}

// newExec returns an executor running p for every key, with the HTTP
// classifier, no budgets (so that tests decide every retry) and an observer
// keeping timelines; opts come after those. It is closed when the test ends.
func newExec(t testing.TB, p policy.Policy, opts ...engine.Option) (*engine.Engine, *timelines) {
	t.Helper()
	obs := &timelines{}
	exec, err := rego.NewExecutor(append([]engine.Option{
		regohttp.WithHTTPClassifier(),
		engine.WithProvider(controlplane.NewStatic(map[string]policy.Policy{"*": p})),
		engine.WithKeyBudgets(nil, nil),
		engine.WithObserver(obs),
	}, opts...)...)
	if err != nil {
		t.Fatalf("NewExecutor: %v", err)
	}
	t.Cleanup(func() { exec.Close() })
	return exec, obs
}

// newServer starts a test server on 127.0.0.1, closed when the test ends.
func newServer(t testing.TB, h http.HandlerFunc) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

// newBase returns a fresh net/http transport whose idle connections are closed
// when the test ends, wrapped to count response bodies and to tell the server
// which attempt sent each request (header X-Attempt).
func newBase(t testing.TB) *counting {
	t.Helper()
	tr := http.DefaultTransport.(*http.Transport).Clone()
	t.Cleanup(tr.CloseIdleConnections)
	return &counting{next: tr}
}

// counting is a RoundTripper that counts the response bodies it hands out and
// those closed, and tags requests with their rego attempt.
type counting struct {
	next           http.RoundTripper
	opened, closed atomic.Int64
}

func (c *counting) RoundTrip(req *http.Request) (*http.Response, error) {
	if info, ok := rego.AttemptFromContext(req.Context()); ok {
		req.Header.Set("X-Attempt", strconv.Itoa(info.Index))
	}
	resp, err := c.next.RoundTrip(req)
	if err == nil {
		c.opened.Add(1)
		resp.Body = &countedBody{ReadCloser: resp.Body, closed: &c.closed}
	}
	return resp, err
}

func (c *counting) CloseIdleConnections() {
	if ci, ok := c.next.(interface{ CloseIdleConnections() }); ok {
		ci.CloseIdleConnections()
	}
}

// open returns how many bodies are not closed yet.
func (c *counting) open() int64 { return c.opened.Load() - c.closed.Load() }

type countedBody struct {
	io.ReadCloser
	once    sync.Once
	closed  *atomic.Int64
	onClose func()
}

func (b *countedBody) Close() error {
	b.once.Do(func() {
		b.closed.Add(1)
		if b.onClose != nil {
			b.onClose()
		}
	})
	return b.ReadCloser.Close()
}

// fakeRT is a RoundTripper made of a function, for tests that need exact
// control over what each attempt gets; responses are counted as by counting.
type fakeRT struct {
	fn             func(req *http.Request, attempt int) (*http.Response, error)
	calls          atomic.Int64
	opened, closed atomic.Int64
	bodies         sync.Map // attempt -> request body as sent
}

func (f *fakeRT) RoundTrip(req *http.Request) (*http.Response, error) {
	f.calls.Add(1)
	info, _ := rego.AttemptFromContext(req.Context())
	if req.Body != nil {
		b, _ := io.ReadAll(req.Body)
		req.Body.Close()
		f.bodies.Store(info.Index, string(b))
	}
	resp, err := f.fn(req, info.Index)
	if resp != nil {
		f.opened.Add(1)
		resp.Body = &countedBody{ReadCloser: resp.Body, closed: &f.closed}
		resp.Request = req
	}
	return resp, err
}

func (f *fakeRT) open() int64 { return f.opened.Load() - f.closed.Load() }

// reply builds a response; header is name, value pairs.
func reply(code int, body string, header ...string) *http.Response {
	h := http.Header{}
	for i := 0; i+1 < len(header); i += 2 {
		h.Set(header[i], header[i+1])
	}
	return &http.Response{StatusCode: code, Status: strconv.Itoa(code) + " " + http.StatusText(code),
		Header: h, Body: io.NopCloser(strings.NewReader(body)), ContentLength: int64(len(body)),
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1}
}

// readAll reads and closes resp's body.
func readAll(t testing.TB, resp *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	if cerr := resp.Body.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatalf("reading the body: %v", err)
	}
	return string(b)
}

// reasons lists the timeline's attempts as "reason" or "hedge:reason".
func reasons(tl *observe.Timeline) []string {
	var out []string
	for _, a := range tl.Attempts {
		r := a.Reason
		if a.Hedge {
			r = "hedge:" + r
		}
		out = append(out, r)
	}
	return out
}

// regoSetDefault swaps the rego default executor.
func regoSetDefault(e *engine.Engine) *engine.Engine { return rego.SetDefault(e) }
