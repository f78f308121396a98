package regohttp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/regoresilience/rego"
	"github.com/regoresilience/rego/classify"
	"github.com/regoresilience/rego/engine"
	"github.com/regoresilience/rego/internal/nohedge"
	"github.com/regoresilience/rego/observe"
)

// Transport is an http.RoundTripper that sends each request under the rego
// policy of its key: retries with backoff, server pushback (Retry-After),
// timeouts, hedging and budgets, with every attempt on the call's timeline.
//
//	client := &http.Client{Transport: regohttp.NewTransport(exec)}
//
// # What RoundTrip returns
//
// Like any RoundTripper, RoundTrip returns (resp, nil) whenever it got an HTTP
// response, whatever its status: the response of the attempt that succeeded
// (status below 400) or, when none did, the response of the attempt that
// decided the call — a 404 at once, the last 503 once attempts, the budget or
// the deadline ran out. It returns as soon as that response's headers are in
// and the policy decided, and hands it over untouched: the transport reads
// none of its body, which only the caller reads and which is complete
// whatever rego's timeouts. It returns an error only when it has no response
// to give: every attempt failed without one (connection refused, timeouts),
// the request's context ended (the error matches its ctx.Err()), or the
// engine refused the call. That error is the engine's *engine.Error, which
// wraps the last attempt's error.
//
// # Retries and idempotency
//
// A response with status 408, 429, 500, 502, 503 or 504 is retried; 429 and 503
// wait at least their Retry-After. Other statuses of 400 and more end the
// call, and are returned without any of their body read. A response
// discarded for a retry is drained when the next attempt starts, so that its
// HTTP/1 connection can be reused: at most 16 KiB and 10 ms in all (a body
// known to be larger, or sent over HTTP/2, where closing costs no connection,
// is closed unread), then it is closed. Responses of hedges that lost are
// closed unread.
//
// A request is sent again only when that is safe:
//
//   - Retry-safe requests (GET, HEAD, OPTIONS, TRACE, PUT, DELETE, or any
//     method with an Idempotency-Key or X-Idempotency-Key header, as net/http
//     itself decides; or every request with WithRetryNonIdempotent) are
//     retried and hedged as the policy says.
//   - Other requests (POST, PATCH, ...) are retried only when the previous
//     attempt surely never reached the server: the connection could not be
//     made (a *net.OpError with Op "dial"). Any other failure, and any
//     response, ends the call (reason "http_not_idempotent"). They are never
//     hedged: RoundTrip runs them as calls that launch no hedge, so they
//     spend no hedge-budget permit either.
//   - A request with a body is sent again only if Request.GetBody is set
//     (http.NewRequest sets it for *bytes.Buffer, *bytes.Reader and
//     *strings.Reader bodies); each attempt after the first sends a fresh
//     body from GetBody. Without GetBody the request is sent once (reason
//     "http_body_not_replayable") and never hedged.
//
// Each attempt sends a clone of the request. Attempts read the caller's
// request only until RoundTrip returns: a hedge that lost and starts later
// sends nothing, so the caller may reuse its request at once.
//
// # Time
//
// Each attempt runs with a context derived from the request's context and
// ended by rego (the attempt timeout, the call's Timeout, a lost hedge race)
// until the response headers arrive. Then the response is detached from the
// attempt: its body is bound by the request's context only, because the caller
// reads it after RoundTrip has returned. Use the request's context (or
// http.Client.Timeout) to bound the reading of bodies.
//
// # Classifier
//
// The transport marks the errors it hands to the engine (classify.Permanent for
// statuses not worth retrying and for requests it must not resend,
// classify.RetryAfter for pushback), so it behaves as described under any
// classifier, classify.Default included. Policies that name Classifier
// ("classifier": "http", registered by WithHTTPClassifier) get precise
// reasons on their timelines and metrics ("http_503" instead of "error");
// NewTransport does not require it.
//
// A Transport is safe for concurrent use and is configured once by
// NewTransport.
type Transport struct {
	// All read-only after NewTransport.
	exec               *engine.Engine // nil: rego.Default() at each call
	base               http.RoundTripper
	key                func(*http.Request) rego.Key
	now                func() time.Time
	retryNonIdempotent bool
}

// Option configures a Transport.
type Option func(*Transport)

// NewTransport returns a Transport that runs requests through exec. A nil exec
// means the rego package's default executor, looked up at each request (so
// rego.SetDefault is honoured). The policies of exec decide what happens to
// each key (see DefaultKey and WithKeyFunc); register Classifier on exec with
// WithHTTPClassifier and name it in the policies for precise reasons.
func NewTransport(exec *engine.Engine, opts ...Option) *Transport {
	t := &Transport{exec: exec}
	for _, o := range opts {
		if o != nil {
			o(t)
		}
	}
	if t.base == nil {
		t.base = http.DefaultTransport
	}
	if t.key == nil {
		t.key = DefaultKey
	}
	if t.now == nil {
		t.now = time.Now
	}
	return t
}

// WithBase sets the RoundTripper that sends each attempt (default
// http.DefaultTransport). A nil rt keeps the default.
func WithBase(rt http.RoundTripper) Option {
	return func(t *Transport) { t.base = rt }
}

// WithKeyFunc sets how a request is mapped to its policy key (default
// DefaultKey). Keys must be low-cardinality: name the route, not the request
// ("users.GetUser", never "users.GetUser-42"). An invalid key still works but
// shares the engine's overflow worker and its default policy. A nil f keeps
// the default.
func WithKeyFunc(f func(*http.Request) rego.Key) Option {
	return func(t *Transport) { t.key = f }
}

// WithRetryNonIdempotent makes every request retry-safe: POST, PATCH and other
// non-idempotent requests are retried and hedged like GETs. Use it only when
// the server deduplicates requests; prefer an Idempotency-Key header on the
// requests that are safe to repeat.
func WithRetryNonIdempotent() Option {
	return func(t *Transport) { t.retryNonIdempotent = true }
}

// WithClock sets the clock that turns a Retry-After HTTP-date into a wait
// (default time.Now). A nil now keeps the default.
func WithClock(now func() time.Time) Option {
	return func(t *Transport) { t.now = now }
}

// CloseIdleConnections closes the idle connections of the base RoundTripper,
// if it has that method. http.Client.CloseIdleConnections calls it.
func (t *Transport) CloseIdleConnections() {
	if c, ok := t.base.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

// IsIdempotent reports whether req may be sent more than once without
// changing the result on the server: its method is GET, HEAD, OPTIONS, TRACE,
// PUT or DELETE ("" means GET), or it has an Idempotency-Key or
// X-Idempotency-Key header (present in Request.Header, even with no value, as
// net/http's own retry logic decides).
func IsIdempotent(req *http.Request) bool {
	switch req.Method {
	case "", http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace, http.MethodPut, http.MethodDelete:
		return true
	}
	if _, ok := req.Header["Idempotency-Key"]; ok {
		return true
	}
	_, ok := req.Header["X-Idempotency-Key"]
	return ok
}

var (
	errNilRequest = errors.New("regohttp: nil request")
	errNilURL     = errors.New("regohttp: nil Request.URL")
	errCallEnded  = errors.New("regohttp: the call already ended")
	// errNilResponse reports a base RoundTripper that broke its contract.
	errNilResponse = errors.New("regohttp: base RoundTripper returned a nil response and a nil error")
)

// RoundTrip sends req under the policy of its key. See Transport for what it
// returns and when a request is sent more than once. It does not modify req,
// and it closes req.Body, as a RoundTripper must. Once it returned, nothing
// it started reads req again, so the caller may reuse req at once.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req == nil {
		return nil, errNilRequest
	}
	if req.URL == nil {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, errNilURL
	}
	exec := t.exec
	if exec == nil {
		exec = rego.Default()
	}
	c := newCall(t, req)
	ctx := c.ctx
	if !c.hedgeSafe() {
		ctx = nohedge.With(ctx) // no hedge, so no hedge permit spent, for a request sent once
	}
	resp, err := engine.DoValue(exec, ctx, t.key(req), c.attempt)
	return c.end(resp, err)
}

// call is one RoundTrip. It lives as long as the slowest of its attempts:
// hedges that lost may still be running when RoundTrip returns.
//
// Ownership: t to retrySafe are written by newCall and read-only after.
// req is the caller's: attempts read it only under mu's read lock while ended
// is false; end sets ended, under mu, before RoundTrip returns, so that an
// attempt starting later (a hedge that lost) never touches req again. taken
// is claimed once by the first attempt that sends. tr guards the responses.
type call struct {
	t          *Transport
	req        *http.Request
	ctx        context.Context // req.Context()
	method     string          // req.Method
	hasBody    bool            // req.Body is set and is not http.NoBody
	replayable bool            // the request can be sent more than once: no body, or GetBody
	retrySafe  bool            // it may be sent again once it may have reached the server
	taken      atomic.Bool
	mu         sync.RWMutex
	ended      bool
	tr         tracker
}

func newCall(t *Transport, req *http.Request) *call {
	c := &call{t: t, req: req, ctx: req.Context(), method: req.Method}
	c.hasBody = req.Body != nil && req.Body != http.NoBody
	c.replayable = !c.hasBody || req.GetBody != nil
	c.retrySafe = t.retryNonIdempotent || IsIdempotent(req)
	return c
}

// hedgeSafe reports whether the request may be sent by parallel attempts.
func (c *call) hedgeSafe() bool { return c.retrySafe && c.replayable }

// attempt is the operation the engine runs, once per attempt, in the caller's
// goroutine or (hedges) in goroutines of their own.
func (c *call) attempt(ctx context.Context) (*http.Response, error) {
	info, hasInfo := rego.AttemptFromContext(ctx)
	if info.Hedge && !c.hedgeSafe() {
		// Not reached: the engine launches no hedge for the calls RoundTrip
		// marks. A guard, should a hedge start anyway.
		return nil, ErrHedgeSkipped
	}
	if !info.Hedge && info.Index > 0 {
		c.tr.discardHeld() // a new round: the earlier ones failed
	}

	// The request's context is the caller's (the body outlives the attempt),
	// cancelled by the attempt's end until the response is detached.
	rctx, cancel := context.WithCancel(c.ctx)
	if hasInfo {
		rctx = observe.ContextWithAttempt(rctx, info)
	}
	areq, err := c.request(rctx)
	if err != nil {
		cancel()
		if err == errCallEnded {
			return nil, err
		}
		return nil, c.tr.failed(err)
	}
	detach := context.AfterFunc(ctx, cancel)

	resp, err := c.t.base.RoundTrip(areq)
	if err == nil && resp == nil {
		err = errNilResponse
	}
	if err != nil {
		detach()
		cancel()
		if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
			// Let classifiers tell an attempt timeout from a cancellation.
			err = fmt.Errorf("%w: %w", cerr, err)
		}
		return nil, c.tr.failed(c.markErr(err))
	}
	if resp.Body == nil {
		resp.Body = http.NoBody // as http.Client does
	}
	// The headers are in: from now on only the caller's context bounds the
	// body, whatever becomes of the attempt, so that the body of the
	// response that decides the call is whole whatever rego's timeouts.
	if !detach() {
		// rego ended the attempt as the headers arrived (a lost race, a
		// timeout): the body is unusable.
		cancel()
		resp.Body.Close()
		return nil, c.tr.failed(c.markErr(attemptEnded(ctx)))
	}
	wrapBody(resp, &body{rc: resp.Body, cancel: cancel})
	var se *StatusError
	if resp.StatusCode >= http.StatusBadRequest {
		se = c.statusError(resp)
	}
	// Nothing of the body is read here: the response is held, untouched,
	// until the call decides (see tracker).
	if !c.tr.hold(resp, se) {
		return nil, errCallEnded
	}
	if se == nil {
		return resp, nil
	}
	return nil, c.tr.failed(c.markStatus(se))
}

// request returns the request one attempt sends: a clone of the caller's,
// with ctx and the attempt's body. It fails with errCallEnded once the call
// ended: req is the caller's again.
func (c *call) request(ctx context.Context) (*http.Request, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.ended {
		return nil, errCallEnded
	}
	reqBody, err := c.body()
	if err != nil {
		return nil, err
	}
	areq := c.req.Clone(ctx)
	areq.Body = reqBody
	return areq, nil
}

// body returns the request body for one attempt: the original for the first
// attempt that sends, a fresh one from GetBody for the others.
func (c *call) body() (io.ReadCloser, error) {
	if !c.hasBody {
		return c.req.Body, nil
	}
	if c.taken.CompareAndSwap(false, true) {
		return c.req.Body, nil
	}
	if c.req.GetBody == nil {
		return nil, notRetried(ReasonBodyNotReplayable, ErrBodyNotReplayable)
	}
	b, err := c.req.GetBody()
	if err != nil {
		return nil, notRetried(ReasonBodyNotReplayable, fmt.Errorf("regohttp: GetBody: %w", err))
	}
	return b, nil
}

// statusError describes a response with a status of 400 or more, without
// holding it.
func (c *call) statusError(resp *http.Response) *StatusError {
	se := &StatusError{StatusCode: resp.StatusCode, Status: resp.Status, Method: c.method,
		Header: explainingHeader(resp.Header), excerpt: new(atomic.Pointer[string])}
	if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable {
		se.RetryAfter, _ = ParseRetryAfter(resp.Header.Get("Retry-After"), c.t.now())
	}
	return se
}

// markStatus marks se so that any classifier gets the transport's rules.
func (c *call) markStatus(se *StatusError) error {
	switch {
	case !RetryableStatus(se.StatusCode):
		return classify.Permanent(se)
	case !c.replayable:
		return notRetried(ReasonBodyNotReplayable, se)
	case !c.retrySafe:
		return notRetried(ReasonNotIdempotent, se)
	case se.RetryAfter > 0:
		return classify.RetryAfter(se, se.RetryAfter)
	}
	return se
}

// markErr marks an attempt that got no response and must not be repeated.
func (c *call) markErr(err error) error {
	switch {
	case !c.replayable:
		return notRetried(ReasonBodyNotReplayable, err)
	case !c.retrySafe && !neverSent(err):
		return notRetried(ReasonNotIdempotent, err)
	}
	return err
}

// attemptEnded is the error of an attempt whose context ended under it.
func attemptEnded(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return context.Canceled
}

// neverSent reports whether err proves that the request did not leave: the
// connection could not be made.
func neverSent(err error) bool {
	op, ok := errors.AsType[*net.OpError](err)
	return ok && op.Op == "dial"
}

// end turns the engine's result into RoundTrip's: the response to return (the
// winner's, or the deciding error response, untouched), every other response
// closed. From here on no attempt reads the caller's request.
func (c *call) end(resp *http.Response, err error) (*http.Response, error) {
	c.mu.Lock()
	c.ended = true
	c.mu.Unlock()
	var (
		ee *engine.Error
		se *StatusError
	)
	keep := resp
	if err != nil {
		keep = nil
		var isEngine bool
		if ee, isEngine = errors.AsType[*engine.Error](err); isEngine && ee.Cause == nil {
			se, _ = errors.AsType[*StatusError](ee.Err)
		}
	}
	kept, last := c.tr.finish(keep, se)
	if c.hasBody && c.taken.CompareAndSwap(false, true) {
		c.req.Body.Close() // no attempt sent it
	}
	if err == nil && kept == nil {
		kept = resp // not held: from a base that the tracker never saw (cannot happen)
	}
	if kept != nil {
		kept.Request = c.req // as net/http's Transport does: the caller's request, not our clone
		return kept, nil
	}
	if ee != nil && last != nil && errors.Is(ee.Err, ErrHedgeSkipped) {
		// The round's last result was a skipped hedge: report the real failure.
		cp := *ee
		cp.Err = last
		err = &cp
	}
	return nil, err
}
