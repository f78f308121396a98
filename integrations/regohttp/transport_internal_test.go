package regohttp

import (
	"context"
	"errors"
	"net/http"
	"sync/atomic"
	"testing"

	"github.com/regoresilience/rego/observe"
)

type rtFunc func(*http.Request) (*http.Response, error)

func (f rtFunc) RoundTrip(req *http.Request) (*http.Response, error) { return f(req) }

// TestAttemptAfterEndLeavesRequestAlone verifies that an attempt starting
// after the call ended (a hedge goroutine the engine launched just before the
// round was decided) sends nothing and reads nothing of the caller's request,
// which the caller may be reusing already.
func TestAttemptAfterEndLeavesRequestAlone(t *testing.T) {
	var sent atomic.Int64
	tr := NewTransport(nil, WithBase(rtFunc(func(*http.Request) (*http.Response, error) {
		sent.Add(1)
		return nil, errors.New("sent")
	})))
	req, err := http.NewRequest(http.MethodGet, "http://svc.test/", nil)
	if err != nil {
		t.Fatal(err)
	}
	c := newCall(tr, req)
	if _, err := c.end(nil, errors.New("the call failed")); err == nil {
		t.Fatal("end turned a failure into a success")
	}
	*req = http.Request{} // the caller reuses its request: nothing may read it now
	ctx := observe.ContextWithAttempt(context.Background(), observe.AttemptInfo{Index: 1, Hedge: true})
	if resp, err := c.attempt(ctx); resp != nil || !errors.Is(err, errCallEnded) || sent.Load() != 0 {
		t.Errorf("late hedge: %v, %v after %d sends; want errCallEnded, nothing sent", resp, err, sent.Load())
	}
}
