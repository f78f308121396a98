package regohttp

import (
	"context"
	"errors"
	"net/http"
	"strconv"

	"github.com/regoresilience/rego/classify"
	"github.com/regoresilience/rego/engine"
)

// ClassifierName is the name WithHTTPClassifier registers Classifier under:
// policies select it with "classifier": "http".
const ClassifierName = "http"

// WithHTTPClassifier registers Classifier under ClassifierName on an engine:
//
//	exec, err := rego.NewExecutor(regohttp.WithHTTPClassifier(), engine.WithProvider(p))
func WithHTTPClassifier() engine.Option {
	return engine.WithClassifier(ClassifierName, Classifier{})
}

// Classifier classifies the attempts of HTTP calls made through a Transport
// (or by code that returns a *StatusError). Rules, first match wins:
//
//	nil error                                  -> Success   "success"
//	the caller's context is done               -> classify.Default (Abort "canceled" / "deadline")
//	a *NotRetriedError                         -> Abort     its Reason ("http_not_idempotent", "http_body_not_replayable")
//	ErrHedgeSkipped                            -> Retryable "http_hedge_skipped"
//	*StatusError 408, 429, 500, 502, 503, 504  -> Retryable "http_<code>", RetryAfter = the error's RetryAfter
//	                                              (Abort "permanent" if the error is also marked classify.Permanent)
//	*StatusError below 400                     -> Success   "success"
//	any other *StatusError                     -> Abort     "http_<code>"
//	anything else (transport errors)           -> classify.Default ("error", "attempt_timeout", ...)
//
// The idempotency rules are not here: the classifier sees only the error,
// the Transport sees the request. The transport marks the attempts it must not
// repeat with *NotRetriedError (see Transport).
//
// The zero value is ready to use; it is stateless, safe for concurrent use and
// does not allocate for status codes below 600.
type Classifier struct{}

var _ classify.Classifier = Classifier{}

// Classify returns the verdict for an attempt that returned err.
func (Classifier) Classify(ctx context.Context, err error) classify.Verdict {
	if err == nil {
		return classify.Verdict{Outcome: classify.Success, Reason: classify.ReasonSuccess}
	}
	if ctx != nil && ctx.Err() != nil {
		return classify.Default.Classify(ctx, err)
	}
	if nr, ok := errors.AsType[*NotRetriedError](err); ok {
		return classify.Verdict{Outcome: classify.Abort, Reason: nr.Reason}
	}
	if errors.Is(err, ErrHedgeSkipped) {
		return classify.Verdict{Outcome: classify.Retryable, Reason: ReasonHedgeSkipped}
	}
	if se, ok := errors.AsType[*StatusError](err); ok {
		switch {
		case se.StatusCode < 400:
			return classify.Verdict{Outcome: classify.Success, Reason: classify.ReasonSuccess}
		case !RetryableStatus(se.StatusCode):
			return classify.Verdict{Outcome: classify.Abort, Reason: statusReason(se.StatusCode)}
		case classify.IsPermanent(err):
			return classify.Verdict{Outcome: classify.Abort, Reason: classify.ReasonPermanent}
		}
		return classify.Verdict{Outcome: classify.Retryable, Reason: statusReason(se.StatusCode),
			RetryAfter: max(se.RetryAfter, 0)}
	}
	return classify.Default.Classify(ctx, err)
}

// RetryableStatus reports whether a response with this status is worth another
// attempt: 408 Request Timeout, 429 Too Many Requests, 500 Internal Server
// Error, 502 Bad Gateway, 503 Service Unavailable and 504 Gateway Timeout.
func RetryableStatus(code int) bool {
	switch code {
	case http.StatusRequestTimeout, http.StatusTooManyRequests, http.StatusInternalServerError,
		http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

// statusReasons holds "http_<code>" for 100..599 so that classifying does not
// allocate; other codes (net/http allows up to 999) are formatted on demand.
var statusReasons = func() (r [600]string) {
	for c := 100; c < len(r); c++ {
		r[c] = "http_" + strconv.Itoa(c)
	}
	return r
}()

func statusReason(code int) string {
	if code >= 100 && code < len(statusReasons) {
		return statusReasons[code]
	}
	return "http_" + strconv.Itoa(code)
}
