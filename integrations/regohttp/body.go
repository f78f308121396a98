package regohttp

import (
	"context"
	"errors"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
)

// readAheadLimit bounds how much of an error response's body (status >= 400)
// an attempt reads before it returns. Error bodies are small; reading them to
// the end lets the connection be reused when the attempt is retried, and the
// bytes stay available if the response turns out to be the one returned to
// the caller. A body known to be larger is not read ahead: discarding it closes
// its connection instead.
const readAheadLimit = 16 << 10

var errReadOnClosedBody = errors.New("http: read on closed response body")

// body is the Body of every response the Transport hands on. It serves the
// bytes read ahead first, then the rest of the original body; Close closes the
// original and releases the attempt's request context.
//
// Ownership: whoever holds the response reads it (one reader, as for any
// response body); Close may be called concurrently with Read, as net/http
// allows, to abort it. closed is the only state both touch.
type body struct {
	ahead  []byte        // read ahead by the attempt; served first
	off    int           // the reader's position in ahead
	rc     io.ReadCloser // the rest of the original body; nil when it was read to its end (or failed)
	tail   error         // returned once ahead is consumed and rc is nil: io.EOF or the read-ahead's error
	cancel context.CancelFunc
	closed atomic.Bool
}

func (b *body) Read(p []byte) (int, error) {
	if b.closed.Load() {
		return 0, errReadOnClosedBody
	}
	if b.off < len(b.ahead) {
		n := copy(p, b.ahead[b.off:])
		b.off += n
		return n, nil
	}
	if b.rc == nil {
		return 0, b.tail
	}
	return b.rc.Read(p)
}

// Close closes the original body and releases the request context. Only the
// first call does anything.
func (b *body) Close() error {
	if !b.closed.CompareAndSwap(false, true) {
		return nil
	}
	var err error
	if b.rc != nil {
		err = b.rc.Close()
	}
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

// readAhead reads an error response's body up to readAheadLimit into memory.
// It returns the bytes read and, when the body goes on, the original for the
// rest; when it ended (or failed), the original is closed and tail says how.
func readAhead(resp *http.Response) (ahead []byte, rest io.ReadCloser, tail error) {
	rc := resp.Body
	if rc == nil || rc == http.NoBody {
		return nil, nil, io.EOF
	}
	if resp.ContentLength > readAheadLimit {
		return nil, rc, nil
	}
	ahead, err := io.ReadAll(io.LimitReader(rc, readAheadLimit+1))
	switch {
	case err != nil:
		rc.Close()
		return ahead, nil, err
	case len(ahead) > readAheadLimit:
		return ahead, rc, nil
	}
	rc.Close()
	return ahead, nil, io.EOF
}

// tracker holds the responses of one call's attempts until the call decides
// which one, if any, goes to the caller; every other one is closed. It is
// shared by the call's attempts (the caller's goroutine and hedge goroutines),
// so mu guards everything in it.
type tracker struct {
	mu   sync.Mutex
	done bool             // the call ended: responses arriving now are closed at once
	held []*http.Response // not yet closed nor handed to the caller
	last error            // the latest attempt error other than a skipped hedge
}

// hold keeps resp until the call ends. It returns false, having closed resp,
// when the call already ended (a hedge that lost the race).
func (t *tracker) hold(resp *http.Response) bool {
	t.mu.Lock()
	if t.done {
		t.mu.Unlock()
		resp.Body.Close()
		return false
	}
	t.held = append(t.held, resp)
	t.mu.Unlock()
	return true
}

// closeHeld closes the responses held so far. A new round of attempts calls it:
// the earlier rounds failed, so none of their responses can be the answer.
func (t *tracker) closeHeld() {
	t.mu.Lock()
	held := t.held
	t.held = nil
	t.mu.Unlock()
	for _, r := range held {
		r.Body.Close()
	}
}

// failed records err as the latest real attempt error and returns it.
func (t *tracker) failed(err error) error {
	t.mu.Lock()
	t.last = err
	t.mu.Unlock()
	return err
}

// finish ends the call: every held response except keep is closed, and later
// ones will be. It reports whether keep was held (and so is still open), and
// returns the latest real attempt error.
func (t *tracker) finish(keep *http.Response) (kept bool, last error) {
	t.mu.Lock()
	t.done = true
	held, last := t.held, t.last
	t.held = nil
	t.mu.Unlock()
	for _, r := range held {
		if r == keep && keep != nil {
			kept = true
			continue
		}
		r.Body.Close()
	}
	return kept, last
}
