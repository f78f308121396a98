package regohttp_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/regoresilience/rego/classify"
	"github.com/regoresilience/rego/engine"
	"github.com/regoresilience/rego/integrations/regohttp"
	"github.com/regoresilience/rego/observe"
)

// TestRetries503Then200 verifies that a 503 is retried and the 200 that follows
// is returned with its body open, the 503's body closed.
func TestRetries503Then200(t *testing.T) {
	var hits atomic.Int32
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		if hits.Add(1) == 1 {
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprint(w, "ok")
	})
	exec, obs := newExec(t, fast(3))
	base := newBase(t)
	client := &http.Client{Transport: regohttp.NewTransport(exec, regohttp.WithBase(base))}

	resp, err := client.Get(srv.URL + "/thing")
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	if body := readAll(t, resp); resp.StatusCode != 200 || body != "ok" {
		t.Fatalf("got %d %q; want 200 \"ok\"", resp.StatusCode, body)
	}
	if n := hits.Load(); n != 2 {
		t.Errorf("server saw %d requests; want 2", n)
	}
	tl := obs.only(t)
	if got := fmt.Sprint(reasons(tl)); got != "[http_503 success]" {
		t.Errorf("attempts %s; want [http_503 success]\n%v", got, tl)
	}
	if base.open() != 0 {
		t.Errorf("%d response bodies left open", base.open())
	}
}

// TestExhaustedReturnsLastResponse verifies that when every attempt gets a
// retryable status, RoundTrip returns the last response (not an error), with
// its body intact, and closes the others.
func TestExhaustedReturnsLastResponse(t *testing.T) {
	var hits atomic.Int32
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadGateway)
		fmt.Fprintf(w, "bad gateway %d", hits.Add(1))
	})
	exec, obs := newExec(t, fast(3))
	base := newBase(t)
	client := &http.Client{Transport: regohttp.NewTransport(exec, regohttp.WithBase(base))}

	resp, err := client.Get(srv.URL)
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	if body := readAll(t, resp); resp.StatusCode != 502 || body != "bad gateway 3" {
		t.Fatalf("got %d %q; want 502 \"bad gateway 3\"", resp.StatusCode, body)
	}
	if got := fmt.Sprint(reasons(obs.only(t))); got != "[http_502 http_502 http_502]" {
		t.Errorf("attempts %s", got)
	}
	if base.open() != 0 {
		t.Errorf("%d response bodies left open", base.open())
	}
}

// TestLargeErrorBody verifies that an error response larger than what the
// transport reads ahead is still returned whole.
func TestLargeErrorBody(t *testing.T) {
	big := strings.Repeat("x", 100<<10)
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
		io.WriteString(w, big) // chunked: the size is not known in advance
	})
	exec, _ := newExec(t, fast(2))
	base := newBase(t)
	client := &http.Client{Transport: regohttp.NewTransport(exec, regohttp.WithBase(base))}
	resp, err := client.Get(srv.URL)
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	if body := readAll(t, resp); resp.StatusCode != 503 || body != big {
		t.Fatalf("got %d and %d bytes; want 503 and %d bytes", resp.StatusCode, len(body), len(big))
	}
	if base.open() != 0 {
		t.Errorf("%d response bodies left open", base.open())
	}
}

// TestNotFoundAborts verifies that a 404 is not retried and is returned as is.
func TestNotFoundAborts(t *testing.T) {
	var hits atomic.Int32
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		http.NotFound(w, r)
	})
	exec, obs := newExec(t, fast(3))
	client := &http.Client{Transport: regohttp.NewTransport(exec, regohttp.WithBase(newBase(t)))}

	resp, err := client.Get(srv.URL)
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	if body := readAll(t, resp); resp.StatusCode != 404 || !strings.Contains(body, "not found") {
		t.Fatalf("got %d %q", resp.StatusCode, body)
	}
	if n := hits.Load(); n != 1 {
		t.Errorf("server saw %d requests; want 1", n)
	}
	tl := obs.only(t)
	if got := fmt.Sprint(reasons(tl)); got != "[http_404]" || tl.Attempts[0].Outcome != classify.Abort {
		t.Errorf("attempts %s\n%v", got, tl)
	}
}

// TestRetryAfterPushback verifies that the Retry-After of a 503 reaches the
// engine as pushback (capped by the policy's MaxRetryAfter, 5ms here) and
// that the next attempt waited at least that long.
func TestRetryAfterPushback(t *testing.T) {
	var hits atomic.Int32
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		if hits.Add(1) == 1 {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		fmt.Fprint(w, "ok")
	})
	exec, obs := newExec(t, fast(3))
	client := &http.Client{Transport: regohttp.NewTransport(exec, regohttp.WithBase(newBase(t)))}
	resp, err := client.Get(srv.URL)
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	readAll(t, resp)

	tl := obs.only(t)
	if len(tl.Attempts) != 2 {
		t.Fatalf("want 2 attempts\n%v", tl)
	}
	se, ok := errors.AsType[*regohttp.StatusError](tl.Attempts[0].Err)
	if !ok || se.RetryAfter != time.Second || se.StatusCode != 503 {
		t.Errorf("first attempt's error %#v; want a 503 StatusError with RetryAfter 1s", tl.Attempts[0].Err)
	}
	var pushback *observe.Event
	for i := range tl.Events {
		if tl.Events[i].Kind == observe.EventPushback {
			pushback = &tl.Events[i]
		}
	}
	if pushback == nil || pushback.Duration != 5*time.Millisecond {
		t.Errorf("pushback event %+v; want one of 5ms (the policy's cap)\n%v", pushback, tl)
	}
	if b := tl.Attempts[1].Backoff; b < 5*time.Millisecond {
		t.Errorf("second attempt waited %v; want >= 5ms", b)
	}
}

// TestNonIdempotentNotRetried verifies that a POST that reached the server is
// not sent again, whether its body can be replayed or not, and that the
// caller gets the server's answer.
func TestNonIdempotentNotRetried(t *testing.T) {
	for _, tc := range []struct {
		name   string
		body   func() io.Reader
		reason string
	}{
		{"no GetBody", func() io.Reader { return io.NopCloser(strings.NewReader("order")) }, regohttp.ReasonBodyNotReplayable},
		{"GetBody, no idempotency key", func() io.Reader { return strings.NewReader("order") }, regohttp.ReasonNotIdempotent},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var hits atomic.Int32
			srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
				hits.Add(1)
				io.Copy(io.Discard, r.Body)
				http.Error(w, "busy", http.StatusServiceUnavailable)
			})
			exec, obs := newExec(t, fast(3))
			client := &http.Client{Transport: regohttp.NewTransport(exec, regohttp.WithBase(newBase(t)))}
			resp, err := client.Post(srv.URL, "text/plain", tc.body())
			if err != nil {
				t.Fatalf("Post: %v", err)
			}
			if readAll(t, resp); resp.StatusCode != 503 {
				t.Errorf("status %d; want 503", resp.StatusCode)
			}
			if n := hits.Load(); n != 1 {
				t.Errorf("server saw %d requests; want 1", n)
			}
			if got := fmt.Sprint(reasons(obs.only(t))); got != "["+tc.reason+"]" {
				t.Errorf("attempts %s; want [%s]", got, tc.reason)
			}
		})
	}
}

// TestIdempotentPostRetried verifies that a POST is retried when it carries an
// Idempotency-Key, or when the transport is told to retry such requests, and
// that every attempt sends the whole body again.
func TestIdempotentPostRetried(t *testing.T) {
	for _, tc := range []struct {
		name string
		key  bool
		opts []regohttp.Option
	}{
		{"Idempotency-Key", true, nil},
		{"WithRetryNonIdempotent", false, []regohttp.Option{regohttp.WithRetryNonIdempotent()}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var (
				mu     sync.Mutex
				bodies []string
			)
			srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
				b, _ := io.ReadAll(r.Body)
				mu.Lock()
				bodies = append(bodies, string(b))
				n := len(bodies)
				mu.Unlock()
				if n < 3 {
					http.Error(w, "busy", http.StatusServiceUnavailable)
					return
				}
				fmt.Fprint(w, "created")
			})
			exec, _ := newExec(t, fast(3))
			base := newBase(t)
			client := &http.Client{Transport: regohttp.NewTransport(exec, append(tc.opts, regohttp.WithBase(base))...)}
			req, _ := http.NewRequest(http.MethodPost, srv.URL, strings.NewReader(`{"item":"tea"}`))
			if tc.key {
				req.Header.Set("Idempotency-Key", "order-1")
			}
			resp, err := client.Do(req)
			if err != nil {
				t.Fatalf("Do: %v", err)
			}
			if body := readAll(t, resp); resp.StatusCode != 200 || body != "created" {
				t.Fatalf("got %d %q", resp.StatusCode, body)
			}
			mu.Lock()
			defer mu.Unlock()
			if got := fmt.Sprint(bodies); got != `[{"item":"tea"} {"item":"tea"} {"item":"tea"}]` {
				t.Errorf("server got bodies %s", got)
			}
			if base.open() != 0 {
				t.Errorf("%d response bodies left open", base.open())
			}
		})
	}
}

// TestPostRetriedWhenNeverSent verifies that a POST whose connection was
// refused is retried (it never reached a server), and that RoundTrip returns
// the engine's error, which matches ECONNREFUSED, when every attempt fails so.
func TestPostRetriedWhenNeverSent(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there any more: connections are refused

	exec, obs := newExec(t, fast(3))
	client := &http.Client{Transport: regohttp.NewTransport(exec, regohttp.WithBase(newBase(t)))}
	resp, err := client.Post("http://"+addr, "text/plain", strings.NewReader("order"))
	if err == nil {
		resp.Body.Close()
		t.Fatalf("Post succeeded with %d; want connection refused", resp.StatusCode)
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("err = %v; want ECONNREFUSED", err)
	}
	if ee, ok := errors.AsType[*engine.Error](err); !ok || ee.Attempts != 3 || ee.Reason != engine.StopAttempts {
		t.Errorf("err = %#v; want an engine error after 3 attempts", err)
	}
	if got := fmt.Sprint(reasons(obs.only(t))); got != "[error error error]" {
		t.Errorf("attempts %s", got)
	}
}

// TestPostAfterDialErrorResendsBody verifies, with a scripted transport, that
// the attempt after a dial error sends the body again, and that a failure
// after the request may have left is not retried.
func TestPostAfterDialErrorResendsBody(t *testing.T) {
	f := &fakeRT{fn: func(req *http.Request, attempt int) (*http.Response, error) {
		switch attempt {
		case 0:
			return nil, &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
		case 1:
			return nil, io.ErrUnexpectedEOF // sent, then the connection broke
		}
		return reply(200, "ok"), nil
	}}
	exec, obs := newExec(t, fast(3))
	client := &http.Client{Transport: regohttp.NewTransport(exec, regohttp.WithBase(f))}
	resp, err := client.Post("http://svc.test", "text/plain", strings.NewReader("order"))
	if err == nil {
		resp.Body.Close()
		t.Fatal("Post succeeded; want the broken connection's error")
	}
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("err = %v; want io.ErrUnexpectedEOF", err)
	}
	if got := fmt.Sprint(reasons(obs.only(t))); got != "[error http_not_idempotent]" {
		t.Errorf("attempts %s", got)
	}
	for i := range 2 {
		if b, _ := f.bodies.Load(i); b != "order" {
			t.Errorf("attempt %d sent body %q; want \"order\"", i, b)
		}
	}
}

// TestBodyOutlivesAttempt verifies that a response's body can be read after
// RoundTrip returned, although rego ends the attempt's context then (it does
// when the policy has an attempt timeout).
func TestBodyOutlivesAttempt(t *testing.T) {
	release := make(chan struct{})
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(200)
		w.(http.Flusher).Flush()
		select { // the body comes only once the client holds the response
		case <-release:
		case <-r.Context().Done():
			return
		}
		fmt.Fprint(w, "late body")
	})
	p := fast(2)
	p.Retry.AttemptTimeout = time.Minute
	exec, _ := newExec(t, p)
	base := newBase(t)
	client := &http.Client{Transport: regohttp.NewTransport(exec, regohttp.WithBase(base))}
	resp, err := client.Get(srv.URL)
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	close(release)
	if body := readAll(t, resp); body != "late body" {
		t.Errorf("body %q", body)
	}
	if base.open() != 0 {
		t.Errorf("%d response bodies left open", base.open())
	}
}

// TestCallerCancel verifies that cancelling the request's context ends the
// call with an error matching context.Canceled.
func TestCallerCancel(t *testing.T) {
	arrived := make(chan struct{})
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		close(arrived)
		<-r.Context().Done()
	})
	exec, obs := newExec(t, fast(3))
	client := &http.Client{Transport: regohttp.NewTransport(exec, regohttp.WithBase(newBase(t)))}
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-arrived
		cancel()
	}()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
	resp, err := client.Do(req)
	if err == nil {
		resp.Body.Close()
		t.Fatal("Do succeeded; want context.Canceled")
	}
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v; want context.Canceled", err)
	}
	if tl := obs.only(t); len(tl.Attempts) != 1 || tl.Attempts[0].Reason != classify.ReasonCanceled {
		t.Errorf("timeline:\n%v", tl)
	}
}

// TestUnsentBodyClosed verifies that RoundTrip closes the request body even
// when no attempt sent it (here: the executor is closed).
func TestUnsentBodyClosed(t *testing.T) {
	exec, _ := newExec(t, fast(1))
	exec.Close()
	var closed atomic.Int64
	body := &countedBody{ReadCloser: io.NopCloser(strings.NewReader("x")), closed: &closed}
	req, _ := http.NewRequest(http.MethodPost, "http://svc.test", body)
	_, err := regohttp.NewTransport(exec, regohttp.WithBase(&fakeRT{})).RoundTrip(req)
	if !errors.Is(err, engine.ErrClosed) {
		t.Errorf("err = %v; want engine.ErrClosed", err)
	}
	if closed.Load() != 1 {
		t.Error("request body not closed")
	}
}

// TestNilRequest verifies bad input gives an error, not a panic.
func TestNilRequest(t *testing.T) {
	tr := regohttp.NewTransport(nil)
	if _, err := tr.RoundTrip(nil); err == nil {
		t.Error("RoundTrip(nil) succeeded")
	}
	if _, err := tr.RoundTrip(&http.Request{Method: "GET"}); err == nil {
		t.Error("RoundTrip without URL succeeded")
	}
}

// TestBrokenBase verifies that a base RoundTripper breaking its contract (nil
// response and nil error, nil body) gives an error or an empty body, not a
// panic or an endless read.
func TestBrokenBase(t *testing.T) {
	exec, _ := newExec(t, fast(2))
	nilResp := &fakeRT{fn: func(*http.Request, int) (*http.Response, error) { return nil, nil }}
	if _, err := regohttp.NewTransport(exec, regohttp.WithBase(nilResp)).RoundTrip(
		httptestRequest(t)); err == nil || nilResp.calls.Load() != 2 {
		t.Errorf("nil response: err = %v after %d calls; want an error after 2", err, nilResp.calls.Load())
	}
	nilBody := http.RoundTripper(rtFunc(func(*http.Request) (*http.Response, error) {
		return &http.Response{StatusCode: 204}, nil
	}))
	resp, err := regohttp.NewTransport(exec, regohttp.WithBase(nilBody)).RoundTrip(httptestRequest(t))
	if err != nil {
		t.Fatalf("nil body: %v", err)
	}
	if body := readAll(t, resp); body != "" {
		t.Errorf("nil body read as %q", body)
	}
}

type rtFunc func(*http.Request) (*http.Response, error)

func (f rtFunc) RoundTrip(req *http.Request) (*http.Response, error) { return f(req) }

func httptestRequest(t *testing.T) *http.Request {
	req, err := http.NewRequest(http.MethodGet, "http://svc.test/", nil)
	if err != nil {
		t.Fatal(err)
	}
	return req
}
