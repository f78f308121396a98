package regohttp

import (
	"errors"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/regoresilience/rego/classify"
)

// Reasons reported by Classifier besides "http_<code>" (for example "http_503")
// and the reasons of classify.Default. They are stable: dashboards and alerts may
// match on them.
const (
	// ReasonNotIdempotent: the request is not idempotent and may have reached
	// the server, so it is not sent again (see Transport).
	ReasonNotIdempotent = "http_not_idempotent"
	// ReasonBodyNotReplayable: the request has a body and no GetBody, so it
	// cannot be sent again.
	ReasonBodyNotReplayable = "http_body_not_replayable"
	// ReasonHedgeSkipped: a hedge was started for a request that must not be
	// sent twice, and the transport sent nothing for it. A guard: RoundTrip
	// runs such requests as calls for which the engine starts no hedge.
	ReasonHedgeSkipped = "http_hedge_skipped"
)

var (
	// ErrHedgeSkipped is the error of a hedge attempt that the transport did
	// not send because the request must not be sent twice (it is not
	// idempotent, or its body cannot be replayed). A guard: RoundTrip runs
	// such requests as calls for which the engine launches no hedge, so it
	// does not show on their timelines. It is never returned by RoundTrip.
	ErrHedgeSkipped = errors.New("regohttp: hedge not sent: the request must not be sent twice")
	// ErrBodyNotReplayable is the error of an attempt that had no body to send:
	// the request has a Body but no GetBody and the body was already used.
	ErrBodyNotReplayable = errors.New("regohttp: request body cannot be replayed (set Request.GetBody)")
)

// StatusError is the error of an attempt that got an HTTP response with a
// status of 400 or more. The Transport returns it to the engine for the
// classifier to read; RoundTrip itself never returns it: the caller gets the
// response (see Transport).
//
// It describes the response without holding it: timelines and observers keep
// StatusErrors, and must not keep responses (and their connections) alive.
//
// Code that makes its own HTTP calls under rego can return a StatusError from
// its operation too, so that Classifier classifies it.
type StatusError struct {
	StatusCode int           // e.g. 503
	Status     string        // e.g. "503 Service Unavailable"; may be empty
	RetryAfter time.Duration // the Retry-After wait of a 429 or 503 (0 = none)
	Method     string        // the request's method ("" means GET)

	// Header holds copies of the response headers that help explain an error,
	// when present: Content-Type, Retry-After, Www-Authenticate and the
	// request IDs X-Request-Id, Request-Id and X-Correlation-Id. Nil when
	// none was sent.
	Header http.Header

	// excerpt is set (once, by the transport) when the response was discarded
	// for a retry and its body read before closing, possibly after the error
	// was recorded: hence an atomic, behind a pointer so that StatusError
	// values can still be copied.
	excerpt *atomic.Pointer[string]
}

// Excerpt returns the start of the response body (at most 1 KiB) when the
// Transport read it: only for a response discarded for a retry, over HTTP/1,
// whose body was small enough and arrived in time (see Transport). It is set
// before the call ends, so observers' OnSuccess and OnFailure see it; it is
// "" otherwise, and always for the response RoundTrip returns, whose body
// only the caller reads.
func (e *StatusError) Excerpt() string {
	if e.excerpt == nil {
		return ""
	}
	if p := e.excerpt.Load(); p != nil {
		return *p
	}
	return ""
}

func (e *StatusError) setExcerpt(b []byte) {
	if e.excerpt != nil && len(b) > 0 {
		s := string(b)
		e.excerpt.Store(&s)
	}
}

// explainingHeaders are the response headers a StatusError keeps.
var explainingHeaders = [...]string{"Content-Type", "Retry-After", "Www-Authenticate", "X-Request-Id", "Request-Id", "X-Correlation-Id"}

// explainingHeader copies the explaining headers of h; nil if it has none.
func explainingHeader(h http.Header) http.Header {
	var out http.Header
	for _, name := range explainingHeaders {
		if v, ok := h[name]; ok {
			if out == nil {
				out = make(http.Header, 2)
			}
			out[name] = append([]string(nil), v...)
		}
	}
	return out
}

// Error returns e.g. "regohttp: GET: 503 Service Unavailable".
func (e *StatusError) Error() string {
	status := e.Status
	if status == "" {
		status = strconv.Itoa(e.StatusCode)
		if t := http.StatusText(e.StatusCode); t != "" {
			status += " " + t
		}
	}
	method := e.Method
	if method == "" {
		method = http.MethodGet
	}
	return "regohttp: " + method + ": " + status
}

// NotRetriedError marks the error of an attempt that the Transport will not
// repeat, whatever its status or error, and says why in Reason
// (ReasonNotIdempotent or ReasonBodyNotReplayable). Classifier aborts on it with
// that reason; the transport also marks it classify.Permanent, so
// classify.Default aborts on it too. errors.Is and errors.As see through it.
type NotRetriedError struct {
	Reason string
	Err    error
}

// Error returns the wrapped error's text followed by the reason.
func (e *NotRetriedError) Error() string {
	msg := "<nil>"
	if e.Err != nil {
		msg = e.Err.Error()
	}
	return msg + " (not retried: " + e.Reason + ")"
}

// Unwrap returns the wrapped error.
func (e *NotRetriedError) Unwrap() error { return e.Err }

// notRetried marks err so that both Classifier and classify.Default abort.
func notRetried(reason string, err error) error {
	return classify.Permanent(&NotRetriedError{Reason: reason, Err: err})
}
