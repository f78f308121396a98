package regohttp_test

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/regoresilience/rego/integrations/regohttp"
)

// protos are the protocols the slow-body tests run over.
var protos = []struct {
	name string
	h2   bool
}{{"HTTP1", false}, {"HTTP2", true}}

// newProtoServer starts a server on 127.0.0.1 speaking HTTP/1.1, or HTTP/2
// over TLS, and returns it with a counting base transport that speaks the same
// protocol to it. Both are closed when the test ends.
func newProtoServer(t *testing.T, h2 bool, h http.HandlerFunc) (*httptest.Server, *counting) {
	t.Helper()
	srv := httptest.NewUnstartedServer(h)
	if h2 {
		srv.EnableHTTP2 = true
		srv.StartTLS()
	} else {
		srv.Start()
	}
	t.Cleanup(srv.Close)
	tr := srv.Client().Transport.(*http.Transport).Clone() // the server's TLS config; ForceAttemptHTTP2 when h2
	t.Cleanup(tr.CloseIdleConnections)
	return srv, &counting{next: tr}
}

// checkProto fails the test if resp was not sent over the protocol asked for.
func checkProto(t *testing.T, resp *http.Response, h2 bool) {
	t.Helper()
	if want := map[bool]int{false: 1, true: 2}[h2]; resp.ProtoMajor != want {
		t.Fatalf("response over %s; want HTTP/%d", resp.Proto, want)
	}
}

const chunkSize = 1 << 10

// trickle writes chunks of chunkSize bytes, one every `every` (the scenario: a
// slow server), and returns how many it wrote before the client went away.
func trickle(w http.ResponseWriter, r *http.Request, chunks int, every time.Duration) int {
	chunk := bytes.Repeat([]byte("x"), chunkSize)
	for i := range chunks {
		if i > 0 {
			select {
			case <-time.After(every):
			case <-r.Context().Done():
				return i
			}
		}
		if _, err := w.Write(chunk); err != nil {
			return i
		}
		w.(http.Flusher).Flush()
	}
	return chunks
}

// await fails the test if ch yields nothing within defaultTestTimeout.
func await[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(defaultTestTimeout):
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}

// TestDecidingBodyWholeDespiteTimeouts verifies that the body of the response
// that decides the call (a 404 at once, the last 503) is complete although it
// arrives long after the attempt timeout and the call timeout have passed:
// rego's timeouts end with the headers.
func TestDecidingBodyWholeDespiteTimeouts(t *testing.T) {
	const chunks, every = 24, 15 * time.Millisecond // 360ms of body
	for _, pr := range protos {
		for _, code := range []int{404, 503} {
			t.Run(fmt.Sprint(pr.name, "/", code), func(t *testing.T) {
				srv, base := newProtoServer(t, pr.h2, func(w http.ResponseWriter, r *http.Request) {
					w.WriteHeader(code)
					if code == 503 && r.Header.Get("X-Attempt") == "0" {
						w.Write([]byte("busy")) // retried: the second 503 decides
						return
					}
					trickle(w, r, chunks, every)
				})
				p := fast(2)
				p.Timeout, p.Retry.AttemptTimeout = 200*time.Millisecond, 100*time.Millisecond
				exec, obs := newExec(t, p)
				client := &http.Client{Transport: regohttp.NewTransport(exec, regohttp.WithBase(base))}
				resp, err := client.Get(srv.URL)
				if err != nil {
					t.Fatalf("Get: %v", err)
				}
				checkProto(t, resp, pr.h2)
				if body := readAll(t, resp); resp.StatusCode != code || len(body) != chunks*chunkSize {
					t.Errorf("got %d and %d bytes; want %d and %d bytes", resp.StatusCode, len(body), code, chunks*chunkSize)
				}
				tl := obs.only(t)
				last, _ := errors.AsType[*regohttp.StatusError](tl.Attempts[len(tl.Attempts)-1].Err)
				if last == nil || last.Excerpt() != "" {
					t.Errorf("deciding attempt's error %#v: want a StatusError whose body was not read", last)
				}
				if base.open() != 0 {
					t.Errorf("%d response bodies left open", base.open())
				}
			})
		}
	}
}

// TestDecidingResponseReturnedBeforeBody verifies that RoundTrip returns the
// deciding response (a 404, or the last 503) as soon as its headers are in,
// while the server still holds its body: the caller can read the body once it
// comes, or close it at once without waiting for it.
func TestDecidingResponseReturnedBeforeBody(t *testing.T) {
	for _, pr := range protos {
		for _, code := range []int{404, 503} {
			for _, read := range []bool{true, false} {
				name := fmt.Sprint(pr.name, "/", code, "/", map[bool]string{true: "read", false: "close"}[read])
				t.Run(name, func(t *testing.T) {
					release, gone := make(chan struct{}), make(chan struct{}, 1)
					srv, base := newProtoServer(t, pr.h2, func(w http.ResponseWriter, r *http.Request) {
						w.Header().Set("Content-Length", "4")
						w.WriteHeader(code)
						if code == 503 && r.Header.Get("X-Attempt") == "0" {
							w.Write([]byte("busy"))
							return
						}
						w.(http.Flusher).Flush()
						select { // the body comes once the test says so
						case <-release:
							w.Write([]byte("gone"))
						case <-r.Context().Done():
							gone <- struct{}{}
						}
					})
					t.Cleanup(func() { close(release) }) // before srv.Close, which waits for handlers
					exec, _ := newExec(t, fast(2))
					client := &http.Client{Transport: regohttp.NewTransport(exec, regohttp.WithBase(base))}

					type result struct {
						resp *http.Response
						err  error
					}
					got := make(chan result, 1)
					go func() { // the test's: it ends when Get returns, at the latest when the cleanup releases the body
						resp, err := client.Get(srv.URL)
						got <- result{resp, err}
					}()
					r := await(t, got, "RoundTrip to return while the body is held")
					if r.err != nil {
						t.Fatalf("Get: %v", r.err)
					}
					resp := r.resp
					checkProto(t, resp, pr.h2)
					if resp.StatusCode != code {
						t.Errorf("status %d; want %d", resp.StatusCode, code)
					}
					if read {
						release <- struct{}{}
						if body := readAll(t, resp); body != "gone" {
							t.Errorf("body %q; want \"gone\"", body)
						}
					} else {
						resp.Body.Close()
						await(t, gone, "the server to see the response abandoned")
					}
					if base.open() != 0 {
						t.Errorf("%d response bodies left open", base.open())
					}
				})
			}
		}
	}
}

// TestDiscardedResponseBounded verifies that a response discarded for a retry
// never holds the retry back: one whose body the server holds open, or
// trickles, is cut off (the server sees the client go away before it sent
// everything) and the retry's answer is returned.
func TestDiscardedResponseBounded(t *testing.T) {
	const chunks, every = 20, 30 * time.Millisecond
	for _, pr := range protos {
		for _, stall := range []bool{true, false} {
			t.Run(fmt.Sprint(pr.name, "/", map[bool]string{true: "stalled", false: "trickled"}[stall]), func(t *testing.T) {
				sent := make(chan int, 1)
				srv, base := newProtoServer(t, pr.h2, func(w http.ResponseWriter, r *http.Request) {
					if r.Header.Get("X-Attempt") != "0" {
						fmt.Fprint(w, "ok")
						return
					}
					w.WriteHeader(http.StatusServiceUnavailable)
					if stall {
						w.Write([]byte("b"))
						w.(http.Flusher).Flush()
						<-r.Context().Done() // held until the client lets go
						sent <- 0
						return
					}
					sent <- trickle(w, r, chunks, every)
				})
				exec, obs := newExec(t, fast(2))
				client := &http.Client{Transport: regohttp.NewTransport(exec, regohttp.WithBase(base))}
				resp, err := client.Get(srv.URL)
				if err != nil {
					t.Fatalf("Get: %v", err)
				}
				checkProto(t, resp, pr.h2)
				if body := readAll(t, resp); resp.StatusCode != 200 || body != "ok" {
					t.Errorf("got %d %q; want 200 \"ok\"", resp.StatusCode, body)
				}
				if n := await(t, sent, "the discarded response's handler to end"); n == chunks {
					t.Errorf("the server sent the whole discarded body: the retry waited for it")
				}
				if got := fmt.Sprint(reasons(obs.only(t))); got != "[http_503 success]" {
					t.Errorf("attempts %s", got)
				}
				if base.open() != 0 {
					t.Errorf("%d response bodies left open", base.open())
				}
			})
		}
	}
}

// TestStatusErrorDescribesResponse verifies what a timeline keeps of a
// discarded error response: status, the explaining headers and, over HTTP/1
// where it was drained to keep the connection, an excerpt of its body; over
// HTTP/2 it was closed unread.
func TestStatusErrorDescribesResponse(t *testing.T) {
	for _, pr := range protos {
		t.Run(pr.name, func(t *testing.T) {
			srv, base := newProtoServer(t, pr.h2, func(w http.ResponseWriter, r *http.Request) {
				if r.Header.Get("X-Attempt") != "0" {
					fmt.Fprint(w, "ok")
					return
				}
				w.Header().Set("X-Request-Id", "req-7")
				w.Header().Set("X-Internal", "not kept")
				http.Error(w, "busy: "+strings.Repeat("y", 2000), http.StatusServiceUnavailable)
			})
			exec, obs := newExec(t, fast(2))
			client := &http.Client{Transport: regohttp.NewTransport(exec, regohttp.WithBase(base))}
			resp, err := client.Get(srv.URL)
			if err != nil {
				t.Fatalf("Get: %v", err)
			}
			checkProto(t, resp, pr.h2)
			readAll(t, resp)
			se, ok := errors.AsType[*regohttp.StatusError](obs.only(t).Attempts[0].Err)
			if !ok || se.StatusCode != 503 {
				t.Fatalf("first attempt's error %v; want a 503 StatusError", obs.only(t).Attempts[0].Err)
			}
			if se.Header.Get("X-Request-Id") != "req-7" || se.Header.Get("Content-Type") == "" || se.Header.Get("X-Internal") != "" {
				t.Errorf("StatusError.Header %v; want X-Request-Id and Content-Type only", se.Header)
			}
			wantExcerpt := "busy: " + strings.Repeat("y", 1024-len("busy: "))
			if pr.h2 {
				wantExcerpt = ""
			}
			if se.Excerpt() != wantExcerpt {
				t.Errorf("Excerpt() = %q (%d bytes); want %d bytes", se.Excerpt(), len(se.Excerpt()), len(wantExcerpt))
			}
		})
	}
}

// TestRequestReusedAfterRoundTrip verifies, under -race, that once RoundTrip
// returned nothing it started reads the caller's request: the caller reuses
// and changes one request for call after call while hedges that lost may
// still be starting.
func TestRequestReusedAfterRoundTrip(t *testing.T) {
	for _, pr := range protos {
		t.Run(pr.name, func(t *testing.T) {
			srv, base := newProtoServer(t, pr.h2, func(w http.ResponseWriter, r *http.Request) {
				if r.Header.Get("X-Attempt") == "0" {
					time.Sleep(5 * time.Millisecond) // the scenario: a primary slower than the hedge delay (and its ticks)
				}
				fmt.Fprint(w, "ok")
			})
			exec, obs := newExec(t, hedged(2, time.Millisecond))
			client := &http.Client{Transport: regohttp.NewTransport(exec, regohttp.WithBase(base))}
			req, _ := http.NewRequest(http.MethodGet, srv.URL+"/0", nil)
			for i := range 40 {
				resp, err := client.Do(req)
				if err != nil {
					t.Fatalf("Do %d: %v", i, err)
				}
				readAll(t, resp)
				req.Header.Set("X-Iteration", fmt.Sprint(i)) // what a caller reusing its request does
				req.URL.Path = fmt.Sprint("/", i)
			}
			obs.mu.Lock()
			hedgedCalls := 0
			for _, tl := range obs.tls {
				if tl.Hedged() {
					hedgedCalls++
				}
			}
			obs.mu.Unlock()
			if hedgedCalls == 0 {
				t.Errorf("no call was hedged: the test proves nothing")
			}
		})
	}
}
