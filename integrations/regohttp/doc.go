// Package regohttp runs HTTP requests under rego policies: Transport is an
// http.RoundTripper that retries, hedges and times out each request as the
// policy of its key says, and Classifier turns HTTP outcomes into rego
// verdicts.
//
//	exec, err := rego.NewExecutor(
//		regohttp.WithHTTPClassifier(),
//		engine.WithProvider(controlplane.NewStatic(map[string]policy.Policy{
//			"http.*": {Retry: policy.Retry{MaxAttempts: 3}, Classifier: regohttp.ClassifierName},
//		})),
//	)
//	client := &http.Client{Transport: regohttp.NewTransport(exec)}
//
// # Model
//
// One RoundTrip is one rego call. The key comes from the request (DefaultKey:
// "http.METHOD_host"; WithKeyFunc to name routes). Every attempt sends a clone
// of the request through the base RoundTripper; a response with a status of
// 400 or more becomes a *StatusError for the classifier, marked so that
// classify.Default also does the right thing (Permanent for statuses not worth
// retrying, RetryAfter for the pushback of a 429 or 503). A StatusError
// describes the response (status, a few headers, an excerpt of a body that
// was drained) and never holds it, so timelines keep no connection alive. The
// transport, which sees the request, enforces the idempotency rules (see
// Transport): an attempt it must not repeat carries a *NotRetriedError, and a
// request it must not send twice runs without hedges.
//
// # Ownership
//
// A Transport is immutable after NewTransport. The state of one RoundTrip (a
// call) is shared by its attempts: the caller's goroutine and, when hedging,
// hedge goroutines that may outlive RoundTrip when they lost. Attempts read
// the caller's request only until RoundTrip returns. Responses move from the
// base RoundTripper to the attempt, which detaches them from the attempt's
// context as their headers arrive and hands them, unread, to the call's
// tracker (a mutex-guarded list). A new round of attempts drains (bounded in
// bytes and time) and closes the responses of the rounds before it; when the
// call ends, the tracker hands the deciding response to the caller untouched
// and closes every other one, including those of losers that arrive later.
// The caller owns the returned response and must close its body, as with any
// RoundTripper. So no response body leaks, hedged or not.
//
// # Time
//
// rego's timeouts (the policy's Timeout and AttemptTimeout) bound each attempt
// until its response headers arrive, not the reading of the body that the
// caller does after RoundTrip returned: bound that with the request's context
// or http.Client.Timeout. ParseRetryAfter reads Retry-After headers; the
// engine caps the pushback at the policy's Retry.MaxRetryAfter.
package regohttp
