package regohttp_test

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/regoresilience/rego/budget"
	"github.com/regoresilience/rego/engine"
	"github.com/regoresilience/rego/integrations/regohttp"
	"github.com/regoresilience/rego/observe"
	"github.com/regoresilience/rego/policy"
)

// hedged is fast(attempts) with one hedge after delay.
func hedged(attempts int, delay time.Duration) policy.Policy {
	p := fast(attempts)
	p.Hedge = policy.Hedge{MaxHedges: 1, Delay: delay}
	return p
}

// TestHedgedGETReturnsFastResponse verifies, against a real server, that when
// the first request stalls the hedge's response is returned, and that the
// stalled request is cancelled.
func TestHedgedGETReturnsFastResponse(t *testing.T) {
	release := make(chan struct{})
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Attempt") == "0" { // the primary stalls until cancelled
			select {
			case <-r.Context().Done():
			case <-release:
			}
			return
		}
		fmt.Fprint(w, "fast")
	})
	t.Cleanup(func() { close(release) }) // before srv.Close, which waits for handlers

	exec, obs := newExec(t, hedged(1, 5*time.Millisecond))
	base := newBase(t)
	client := &http.Client{Transport: regohttp.NewTransport(exec, regohttp.WithBase(base))}
	resp, err := client.Get(srv.URL)
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	if body := readAll(t, resp); body != "fast" {
		t.Fatalf("body %q; want \"fast\"", body)
	}
	tl := obs.only(t)
	if got := fmt.Sprint(reasons(tl)); got != "[hedge_lost hedge:success]" || !tl.Attempts[0].Canceled {
		t.Errorf("attempts %s\n%v", got, tl)
	}
	if base.open() != 0 {
		t.Errorf("%d response bodies left open", base.open())
	}
}

// TestHedgeLosersClosed verifies that responses of attempts that lost a hedge
// race are closed: one that arrives after its attempt was cancelled, an error
// response read ahead, and an error response too large to read ahead that is
// held open until the call ends.
func TestHedgeLosersClosed(t *testing.T) {
	big := strings.Repeat("x", 64<<10)
	for _, tc := range []struct {
		name   string
		hedges int
		fn     func(req *http.Request, attempt int) (*http.Response, error)
		want   []string // acceptable attempt lists (hedge results race)
	}{
		{"loser answers after its cancellation", 1, func(req *http.Request, attempt int) (*http.Response, error) {
			if attempt == 0 {
				<-req.Context().Done() // a transport that raced the cancellation and won
				return reply(200, "slow"), nil
			}
			return reply(200, "fast"), nil
		}, []string{"[hedge_lost hedge:success]"}},
		{"loser's error response came first", 1, func(req *http.Request, attempt int) (*http.Response, error) {
			if attempt == 0 {
				return reply(503, "busy"), nil // fails at once: the hedge fires at once
			}
			return reply(200, "fast"), nil
		}, []string{"[http_503 hedge:success]"}},
		{"large error response held until the end", 2, func(req *http.Request, attempt int) (*http.Response, error) {
			switch attempt {
			case 0:
				<-req.Context().Done()
				return nil, req.Context().Err()
			case 1:
				return reply(503, big), nil // too large to read ahead: stays open
			}
			return reply(200, "fast"), nil
		}, []string{
			"[hedge_lost hedge:http_503 hedge:success]",
			"[hedge_lost hedge:success hedge:hedge_lost]", // the 503 was processed after the win
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				f := &fakeRT{fn: tc.fn}
				p := hedged(1, 10*time.Millisecond)
				p.Hedge.MaxHedges = tc.hedges
				exec, obs := newExec(t, p)
				client := &http.Client{Transport: regohttp.NewTransport(exec, regohttp.WithBase(f))}
				resp, err := client.Get("http://svc.test/")
				if err != nil {
					t.Fatalf("Get: %v", err)
				}
				if body := readAll(t, resp); body != "fast" {
					t.Errorf("body %q; want \"fast\"", body)
				}
				if got := fmt.Sprint(reasons(obs.only(t))); !slices.Contains(tc.want, got) {
					t.Errorf("attempts %s; want one of %q", got, tc.want)
				}
				synctest.Wait() // every loser has returned
				if f.open() != 0 {
					t.Errorf("%d of %d response bodies left open", f.open(), f.opened.Load())
				}
			})
		})
	}
}

// TestFailedResponseClosedBeforeRetry verifies that a failed attempt's
// response is closed before the next attempt is sent, also when its body was
// too large to read ahead.
func TestFailedResponseClosedBeforeRetry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		openAtRetry := int64(-1)
		var f *fakeRT
		f = &fakeRT{fn: func(req *http.Request, attempt int) (*http.Response, error) {
			if attempt == 0 {
				return reply(500, strings.Repeat("x", 64<<10)), nil
			}
			openAtRetry = f.open()
			return reply(200, "ok"), nil
		}}
		exec, _ := newExec(t, fast(2))
		resp, err := (&http.Client{Transport: regohttp.NewTransport(exec, regohttp.WithBase(f))}).Get("http://svc.test/")
		if err != nil {
			t.Fatalf("Get: %v", err)
		}
		readAll(t, resp)
		if openAtRetry != 0 {
			t.Errorf("%d response bodies open when the retry was sent; want 0", openAtRetry)
		}
	})
}

// slowly answers after d unless the request is cancelled first, as a slow
// server would.
func slowly(req *http.Request, d time.Duration, resp *http.Response, err error) (*http.Response, error) {
	select {
	case <-time.After(d):
		return resp, err
	case <-req.Context().Done():
		return nil, req.Context().Err()
	}
}

// hedgeBudget grants every hedge and counts the permits asked for.
type hedgeBudget struct{ asked atomic.Int64 }

func (b *hedgeBudget) TryAcquire() bool  { b.asked.Add(1); return true }
func (b *hedgeBudget) Release()          {}
func (b *hedgeBudget) Record(bool, bool) {}

// TestNonIdempotentNotHedged verifies that a POST is never sent twice, even
// under a policy that hedges: no hedge runs and no hedge permit is spent. A
// POST with an Idempotency-Key, under the same policy, is hedged.
func TestNonIdempotentNotHedged(t *testing.T) {
	for _, tc := range []struct {
		name   string
		key    bool
		sends  int64
		hedged bool
	}{
		{"no idempotency key", false, 1, false},
		{"Idempotency-Key", true, 2, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				f := &fakeRT{fn: func(req *http.Request, attempt int) (*http.Response, error) {
					return slowly(req, 100*time.Millisecond, reply(201, "created"), nil)
				}}
				hb := &hedgeBudget{}
				exec, obs := newExec(t, hedged(1, 10*time.Millisecond),
					engine.WithKeyBudgets(nil, func() budget.Budget { return hb }))
				client := &http.Client{Transport: regohttp.NewTransport(exec, regohttp.WithBase(f))}
				req, _ := http.NewRequest(http.MethodPost, "http://svc.test/orders", strings.NewReader("tea"))
				if tc.key {
					req.Header.Set("Idempotency-Key", "order-1")
				}
				resp, err := client.Do(req)
				if err != nil {
					t.Fatalf("Post: %v", err)
				}
				if body := readAll(t, resp); resp.StatusCode != 201 || body != "created" {
					t.Errorf("got %d %q", resp.StatusCode, body)
				}
				synctest.Wait() // the hedge that lost, if any, has returned
				tl := obs.only(t)
				if n := f.calls.Load(); n != tc.sends || tl.Hedged() != tc.hedged {
					t.Errorf("the request was sent %d times, hedged %v; want %d, %v\n%v", n, tl.Hedged(), tc.sends, tc.hedged, tl)
				}
				if want := int64(tc.sends - 1); hb.asked.Load() != want {
					t.Errorf("%d hedge permits asked for; want %d", hb.asked.Load(), want)
				}
			})
		})
	}
}

// TestSkippedHedgeKeepsRealError verifies that when a POST that never reached
// the server is retried under a hedging policy, no hedge runs in any round
// and the error RoundTrip returns is the real one.
func TestSkippedHedgeKeepsRealError(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		refused := &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
		f := &fakeRT{fn: func(req *http.Request, attempt int) (*http.Response, error) {
			return slowly(req, 100*time.Millisecond, nil, refused)
		}}
		exec, obs := newExec(t, hedged(2, 10*time.Millisecond))
		client := &http.Client{Transport: regohttp.NewTransport(exec, regohttp.WithBase(f))}
		resp, err := client.Post("http://svc.test/orders", "text/plain", strings.NewReader("tea"))
		if err == nil {
			resp.Body.Close()
			t.Fatal("Post succeeded")
		}
		if !errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, regohttp.ErrHedgeSkipped) {
			t.Errorf("err = %v; want the connection refusal", err)
		}
		if n := f.calls.Load(); n != 2 {
			t.Errorf("sent %d times; want 2 (one per round, no hedge)", n)
		}
		tl := obs.only(t)
		if got := fmt.Sprint(reasons(tl)); got != "[error error]" {
			t.Errorf("attempts %s\n%v", got, tl)
		}
	})
}

// TestRetryAfterWaits verifies, in fake time, that the next attempt waits
// exactly the server's Retry-After, in seconds or as an HTTP-date.
func TestRetryAfterWaits(t *testing.T) {
	at := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name, header string
		code         int
		want         time.Duration
	}{
		{"429 seconds", "3", 429, 3 * time.Second},
		{"503 date", at.Add(2 * time.Second).Format(http.TimeFormat), 503, 2 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				f := &fakeRT{fn: func(req *http.Request, attempt int) (*http.Response, error) {
					if attempt == 0 {
						return reply(tc.code, "slow down", "Retry-After", tc.header), nil
					}
					return reply(200, "ok"), nil
				}}
				p := fast(2)
				p.Retry.MaxRetryAfter = 10 * time.Second
				exec, obs := newExec(t, p)
				tr := regohttp.NewTransport(exec, regohttp.WithBase(f), regohttp.WithClock(func() time.Time { return at }))
				start := time.Now()
				resp, err := (&http.Client{Transport: tr}).Get("http://svc.test/")
				if err != nil {
					t.Fatalf("Get: %v", err)
				}
				readAll(t, resp)
				if took := time.Since(start); took < tc.want || took > tc.want+10*time.Millisecond {
					t.Errorf("call took %v; want %v (+ a scheduler tick)", took, tc.want)
				}
				tl := obs.only(t)
				var ev []observe.Event
				for _, e := range tl.Events {
					if e.Kind == observe.EventPushback {
						ev = append(ev, e)
					}
				}
				if len(ev) != 1 || ev[0].Duration != tc.want || tl.Attempts[1].Backoff != tc.want {
					t.Errorf("pushback events %+v, backoff %v; want one of %v\n%v", ev, tl.Attempts[1].Backoff, tc.want, tl)
				}
			})
		})
	}
}

// TestDefaultExecutor verifies that a Transport without an executor uses the
// rego default, and works with classify.Default (no "http" classifier).
func TestDefaultExecutor(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		exec, err := engine.New(engine.WithKeyBudgets(nil, nil))
		if err != nil {
			t.Fatal(err)
		}
		defer exec.Close()
		prev := regoSetDefault(exec)
		defer regoSetDefault(prev)

		f := &fakeRT{fn: func(req *http.Request, attempt int) (*http.Response, error) {
			switch attempt {
			case 0:
				return reply(503, "busy"), nil
			case 1:
				return reply(404, "gone"), nil
			}
			return reply(200, "never"), nil
		}}
		resp, err := (&http.Client{Transport: regohttp.NewTransport(nil, regohttp.WithBase(f))}).Get("http://svc.test/")
		if err != nil {
			t.Fatalf("Get: %v", err)
		}
		if body := readAll(t, resp); resp.StatusCode != 404 || body != "gone" {
			t.Errorf("got %d %q; want 404 \"gone\" (retried the 503, not the 404)", resp.StatusCode, body)
		}
		if f.open() != 0 {
			t.Errorf("%d response bodies left open", f.open())
		}
	})
}
