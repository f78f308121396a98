package regohttp

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
)

type closeCounter struct {
	io.Reader
	n *atomic.Int64
}

func (c closeCounter) Close() error { c.n.Add(1); return nil }

func heldResponse(n *atomic.Int64) *http.Response {
	resp := &http.Response{StatusCode: 200, Body: closeCounter{strings.NewReader("x"), n}}
	wrapBody(resp, &body{rc: resp.Body, cancel: func() {}})
	return resp
}

// TestTrackerLateResponse verifies that a response that arrives after the call
// ended (a hedge that lost) is closed at once, and that finish closes every
// held response but the one it keeps.
func TestTrackerLateResponse(t *testing.T) {
	var closed atomic.Int64
	var tr tracker
	a, b := heldResponse(&closed), heldResponse(&closed)
	if !tr.hold(a) || !tr.hold(b) {
		t.Fatal("hold refused before the end")
	}
	if kept, _ := tr.finish(b); !kept || closed.Load() != 1 {
		t.Fatalf("finish: kept=%v closed=%d; want kept, 1 closed", kept, closed.Load())
	}
	if tr.hold(heldResponse(&closed)) || closed.Load() != 2 {
		t.Fatalf("late hold: closed=%d; want refused and closed", closed.Load())
	}
	if kept, _ := tr.finish(a); kept {
		t.Error("finish kept a response that was already closed")
	}
}

// TestBody verifies the body wrapper: read-ahead bytes first, then the rest;
// Close once; reads after Close fail; the context is released.
func TestBody(t *testing.T) {
	var closed, canceled atomic.Int64
	rest := closeCounter{strings.NewReader(" world"), &closed}
	b := &body{ahead: []byte("hello"), rc: rest, cancel: func() { canceled.Add(1) }}
	got, err := io.ReadAll(b)
	if err != nil || string(got) != "hello world" {
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

	failed := &body{ahead: []byte("par"), tail: io.ErrUnexpectedEOF, cancel: func() {}}
	if got, err := io.ReadAll(failed); string(got) != "par" || !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("ReadAll of a failed read-ahead = %q, %v", got, err)
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

// TestReadAhead verifies the read-ahead limits.
func TestReadAhead(t *testing.T) {
	var closed atomic.Int64
	mk := func(s string, length int64) *http.Response {
		return &http.Response{Body: closeCounter{strings.NewReader(s), &closed}, ContentLength: length}
	}
	if ahead, rest, tail := readAhead(mk("small", 5)); string(ahead) != "small" || rest != nil || tail != io.EOF || closed.Load() != 1 {
		t.Errorf("small: %q %v %v closed=%d", ahead, rest, tail, closed.Load())
	}
	big := strings.Repeat("x", readAheadLimit+10)
	if ahead, rest, _ := readAhead(mk(big, int64(len(big)))); len(ahead) != 0 || rest == nil {
		t.Errorf("known large: read %d bytes ahead; want none", len(ahead))
	}
	if ahead, rest, _ := readAhead(mk(big, -1)); len(ahead) != readAheadLimit+1 || rest == nil {
		t.Errorf("unknown large: read %d bytes ahead, rest %v", len(ahead), rest)
	}
}
