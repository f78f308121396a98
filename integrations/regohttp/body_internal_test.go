package regohttp

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

type closeCounter struct {
	io.Reader
	n *atomic.Int64
}

func (c closeCounter) Close() error { c.n.Add(1); return nil }

func newHeld(n *atomic.Int64) *http.Response {
	resp := &http.Response{StatusCode: 200, Body: closeCounter{strings.NewReader("x"), n}}
	wrapBody(resp, &body{rc: resp.Body, cancel: func() {}})
	return resp
}

// TestTrackerLateResponse verifies that a response that arrives after the call
// ended (a hedge that lost) is closed at once, and that finish closes every
// held response but the one it keeps, found by response or by StatusError.
func TestTrackerLateResponse(t *testing.T) {
	var closed atomic.Int64
	var tr tracker
	a, b := newHeld(&closed), newHeld(&closed)
	se := &StatusError{StatusCode: 503}
	if !tr.hold(a, nil) || !tr.hold(b, se) {
		t.Fatal("hold refused before the end")
	}
	if kept, _ := tr.finish(nil, se); kept != b || closed.Load() != 1 {
		t.Fatalf("finish: kept=%v closed=%d; want b kept, 1 closed", kept, closed.Load())
	}
	if tr.hold(newHeld(&closed), nil) || closed.Load() != 2 {
		t.Fatalf("late hold: closed=%d; want refused and closed", closed.Load())
	}
	if kept, _ := tr.finish(a, nil); kept != nil {
		t.Error("finish kept a response that was already closed")
	}
}

// TestBody verifies the body wrapper: Close once, reads after Close fail, the
// context is released.
func TestBody(t *testing.T) {
	var closed, canceled atomic.Int64
	b := &body{rc: closeCounter{strings.NewReader("hello"), &closed}, cancel: func() { canceled.Add(1) }}
	got, err := io.ReadAll(b)
	if err != nil || string(got) != "hello" {
		t.Fatalf("ReadAll = %q, %v", got, err)
	}
	b.Close()
	b.Close()
	if closed.Load() != 1 || canceled.Load() != 1 {
		t.Errorf("closed %d, canceled %d; want 1, 1", closed.Load(), canceled.Load())
	}
	if _, err := b.Read(make([]byte, 1)); err == nil {
		t.Error("Read after Close succeeded")
	}
}

// rwc is a 101 body: readable, writable, closable.
type rwc struct{ written bytes.Buffer }

func (*rwc) Read([]byte) (int, error)      { return 0, io.EOF }
func (c *rwc) Write(p []byte) (int, error) { return c.written.Write(p) }
func (*rwc) Close() error                  { return nil }

// TestUpgradeBodyWritable verifies that a 101 response's body stays writable.
func TestUpgradeBodyWritable(t *testing.T) {
	conn := &rwc{}
	resp := &http.Response{StatusCode: http.StatusSwitchingProtocols, Body: conn}
	wrapBody(resp, &body{rc: resp.Body, cancel: func() {}})
	w, ok := resp.Body.(io.Writer)
	if !ok {
		t.Fatal("101 body is not writable after wrapping")
	}
	w.Write([]byte("ping"))
	if conn.written.String() != "ping" {
		t.Errorf("wrote %q", conn.written.String())
	}
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

// stalled is a body that blocks until closed, as a server holding a body
// open does.
type stalled struct {
	closed chan struct{}
	n      *atomic.Int64
}

func (s stalled) Read([]byte) (int, error) { <-s.closed; return 0, errReadOnClosedBody }
func (s stalled) Close() error {
	s.n.Add(1)
	close(s.closed)
	return nil
}

// TestDrain verifies the bounds of draining discarded responses: bytes read
// (none for a body known to be large or sent over HTTP/2, at most drainLimit
// otherwise), the excerpt kept, and the time spent on a body that never comes.
func TestDrain(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var closed atomic.Int64
		mk := func(s string, length int64, proto int) (heldResponse, *countingReader) {
			cr := &countingReader{r: strings.NewReader(s)}
			resp := &http.Response{StatusCode: 503, ProtoMajor: proto, ContentLength: length,
				Body: closeCounter{cr, &closed}}
			wrapBody(resp, &body{rc: resp.Body, cancel: func() {}})
			return heldResponse{resp, &StatusError{StatusCode: 503, excerpt: new(atomic.Pointer[string])}}, cr
		}
		big := strings.Repeat("x", drainLimit+10)
		small, smallR := mk("busy", 4, 1)
		knownBig, knownBigR := mk(big, int64(len(big)), 1)
		unknownBig, unknownBigR := mk(big, -1, 1)
		h2, h2R := mk("busy", 4, 2)
		stall := stalled{closed: make(chan struct{}), n: &closed}
		stalledResp := &http.Response{StatusCode: 503, ProtoMajor: 1, ContentLength: -1, Body: stall}
		wrapBody(stalledResp, &body{rc: stalledResp.Body, cancel: func() {}})

		start := time.Now()
		drain([]heldResponse{small, knownBig, unknownBig, h2, {resp: stalledResp}})
		if took := time.Since(start); took != drainTimeout {
			t.Errorf("drain took %v; want %v (the stalled body's bound)", took, drainTimeout)
		}
		if closed.Load() != 5 {
			t.Errorf("%d bodies closed; want 5", closed.Load())
		}
		if smallR.n != 4 || small.se.Excerpt() != "busy" {
			t.Errorf("small body: read %d bytes, excerpt %q; want 4, \"busy\"", smallR.n, small.se.Excerpt())
		}
		if knownBigR.n != 0 || h2R.n != 0 || knownBig.se.Excerpt() != "" {
			t.Errorf("read %d bytes of a body known to be large, %d over HTTP/2; want none", knownBigR.n, h2R.n)
		}
		if unknownBigR.n > drainLimit+1 || len(unknownBig.se.Excerpt()) != excerptLimit {
			t.Errorf("unknown large body: read %d bytes (limit %d), excerpt of %d bytes",
				unknownBigR.n, drainLimit, len(unknownBig.se.Excerpt()))
		}
	})
}
