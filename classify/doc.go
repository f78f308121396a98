// Package classify decides what a finished attempt means for the call that made
// it: stop with success, try again, or give up.
//
// # Model
//
// After every attempt the engine hands the attempt's error to a [Classifier]
// together with the caller's context and gets back a [Verdict]: an [Outcome]
// ([Success], [Retryable] or [Abort]), a short stable Reason that is recorded on
// the call's timeline, and an optional RetryAfter (server pushback: the next
// wait must last at least that long; the engine caps it by the policy's
// MaxRetryAfter).
//
// [Default] is the classifier used when a policy names none. It needs no
// configuration because it reads marks that the operation leaves on its error:
//
//   - [Permanent] marks an error that retrying cannot fix (a validation error,
//     a 404): the call is aborted.
//   - [RetryAfter] carries server pushback (HTTP 429/503 Retry-After, gRPC
//     RetryInfo): the attempt is retried no sooner than the given duration.
//
// Marks survive wrapping with fmt.Errorf("...: %w", err) and errors.Join, and
// they are transparent: errors.Is and errors.As see through them to the
// original error, and their Error text is the original text.
//
// Domain classifiers (HTTP status codes, gRPC codes, SQL states) implement
// [Classifier], usually as a [Func] that handles what it knows and delegates
// the rest to [Default], and are registered by name with
// engine.WithClassifier so that a policy can select them with
// "classifier": "name".
//
// # Ownership and cost
//
// Classifiers are called on every attempt, from the caller's goroutine and,
// when hedging, from hedge goroutines at the same time: they must be safe for
// concurrent use and should not allocate. [Default] keeps no state and does not
// allocate (a nil error costs a few nanoseconds; see BENCHMARKS.md).
package classify
