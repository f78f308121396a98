package regohttp

import (
	"context"
	"errors"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Bounds of what the transport reads of a response it discards for a retry.
// Reading a small body to its end lets an HTTP/1 connection be reused; a body
// that is large, or slow to come, is cut off by closing it, which costs the
// connection but never delays the next attempt by more than drainTimeout.
const (
	drainLimit   = 16 << 10              // bytes read at most; a body known to be larger is closed unread
	drainTimeout = 10 * time.Millisecond // time spent at most, whatever the number of responses
	excerptLimit = 1 << 10               // bytes of a drained body kept on its StatusError
)

var errReadOnClosedBody = errors.New("http: read on closed response body")

// body is the Body of every response the Transport hands on. Close closes the
// original and releases the attempt's request context, which after the
// response's headers arrived is the caller's request context only.
//
// Ownership: whoever holds the response reads it (one reader, as for any
// response body); Close may be called concurrently with Read, as net/http
// allows, to abort it. closed is the only state both touch.
type body struct {
	rc     io.ReadCloser
	cancel context.CancelFunc
	closed atomic.Bool
}

func (b *body) Read(p []byte) (int, error) {
	if b.closed.Load() {
		return 0, errReadOnClosedBody
	}
	return b.rc.Read(p)
}

// Close closes the original body and releases the request context. Only the
// first call does anything.
func (b *body) Close() error {
	if !b.closed.CompareAndSwap(false, true) {
		return nil
	}
	err := b.rc.Close()
	b.cancel()
	return err
}

// upgradeBody keeps the io.Writer of a 101 Switching Protocols body, which
// net/http exposes as an io.ReadWriteCloser.
type upgradeBody struct {
	*body
	w io.Writer
}

func (b upgradeBody) Write(p []byte) (int, error) { return b.w.Write(p) }

// wrapBody replaces resp.Body with a body that cancels the attempt's request
// context when closed.
func wrapBody(resp *http.Response, b *body) {
	if w, ok := b.rc.(io.Writer); ok {
		resp.Body = upgradeBody{b, w}
		return
	}
	resp.Body = b
}

// heldResponse is a response an attempt got, and the StatusError that stands
// for it when its status is 400 or more (nil otherwise).
type heldResponse struct {
	resp *http.Response
	se   *StatusError
}

// tracker holds the responses of one call's attempts until the call decides
// which one, if any, goes to the caller; every other one is drained or
// closed. It is shared by the call's attempts (the caller's goroutine and
// hedge goroutines), so mu guards everything in it.
type tracker struct {
	mu   sync.Mutex
	done bool           // the call ended: responses arriving now are closed at once
	held []heldResponse // not yet closed nor handed to the caller
	last error          // the latest attempt error other than a skipped hedge
}

// hold keeps resp (and se, its error, if any) until the call ends. It returns
// false, having closed resp, when the call already ended (a hedge that lost
// the race).
func (t *tracker) hold(resp *http.Response, se *StatusError) bool {
	t.mu.Lock()
	if t.done {
		t.mu.Unlock()
		resp.Body.Close()
		return false
	}
	t.held = append(t.held, heldResponse{resp, se})
	t.mu.Unlock()
	return true
}

// discardHeld drains and closes the responses held so far. A new round of
// attempts calls it before it sends: the earlier rounds failed, so none of
// their responses can be the answer.
func (t *tracker) discardHeld() {
	t.mu.Lock()
	held := t.held
	t.held = nil
	t.mu.Unlock()
	drain(held)
}

// failed records err as the latest real attempt error and returns it.
func (t *tracker) failed(err error) error {
	t.mu.Lock()
	t.last = err
	t.mu.Unlock()
	return err
}

// finish ends the call: it returns the held response that is keep, or whose
// StatusError is se (nil if none is held: it was already closed), closes
// every other one, unread, and makes hold close any later one. It also
// returns the latest real attempt error.
func (t *tracker) finish(keep *http.Response, se *StatusError) (kept *http.Response, last error) {
	t.mu.Lock()
	t.done = true
	held, last := t.held, t.last
	t.held = nil
	t.mu.Unlock()
	for _, h := range held {
		if kept == nil && ((keep != nil && h.resp == keep) || (se != nil && h.se == se)) {
			kept = h.resp
			continue
		}
		h.resp.Body.Close()
	}
	return kept, last
}

// drain reads what it cheaply can of each discarded response, so that HTTP/1
// connections go back to the pool, keeps an excerpt of each error body on its
// StatusError, and closes them all. It spends at most drainTimeout in total:
// a timer then closes every body, which aborts a read in progress (closing a
// net/http body also cancels its request context, and either ends a read).
//
// The timer's function is the only goroutine drain starts; it ends once it
// has closed the bodies, and it never runs if drain finishes first.
func drain(held []heldResponse) {
	var timer *time.Timer
	for _, h := range held {
		if !worthDraining(h.resp) {
			h.resp.Body.Close()
			continue
		}
		if timer == nil {
			timer = time.AfterFunc(drainTimeout, func() {
				for _, h := range held {
					h.resp.Body.Close()
				}
			})
		}
		readSome(h)
		h.resp.Body.Close()
	}
	if timer != nil {
		timer.Stop()
	}
}

// worthDraining reports whether reading resp's body before closing it may
// save a connection: only HTTP/1 keeps its connection across a body closed
// early (HTTP/2 resets just the stream), and only a body that may be small
// is worth reading.
func worthDraining(resp *http.Response) bool {
	return resp.ProtoMajor < 2 && resp.ContentLength <= drainLimit
}

// readSome reads h's body up to drainLimit, keeping its first excerptLimit
// bytes on h's StatusError.
func readSome(h heldResponse) {
	buf := make([]byte, excerptLimit)
	n, err := io.ReadFull(h.resp.Body, buf)
	if h.se != nil {
		h.se.setExcerpt(buf[:n])
	}
	if err == nil {
		io.Copy(io.Discard, io.LimitReader(h.resp.Body, drainLimit-excerptLimit+1))
	}
}
