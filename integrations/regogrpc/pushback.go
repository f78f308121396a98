package regogrpc

import (
	"strconv"
	"time"
)

// Metadata keys of gRFC A6 (client-side retries).
const (
	// PushbackKey is the trailer a server sets to push back on retries: a
	// decimal number of milliseconds to wait before the next attempt, or a
	// negative or unparseable value to ask the client not to retry at all.
	PushbackKey = "grpc-retry-pushback-ms"
	// PreviousAttemptsKey is the request header sent on every attempt after
	// the first (retries and hedges): the number of attempts of the call that
	// started before this one.
	PreviousAttemptsKey = "grpc-previous-rpc-attempts"
)

// maxPushback caps the pushback a server can ask for; the engine caps it
// again by the policy's Retry.MaxRetryAfter (30s by default).
const maxPushback = 24 * time.Hour

// pushback is what an attempt's grpc-retry-pushback-ms trailer said.
type pushback uint8

const (
	pushbackNone  pushback = iota // no trailer
	pushbackRetry                 // a valid, non-negative wait
	pushbackStop                  // negative, unparseable or repeated: do not retry
)

// parsePushback reads the values of the grpc-retry-pushback-ms trailer as
// grpc-go does: exactly one value, a decimal integer >= 0, is a wait in
// milliseconds (capped at maxPushback); a negative or unparseable value, or
// more than one value, means the server asks for no retry.
func parsePushback(values []string) (time.Duration, pushback) {
	switch len(values) {
	case 0:
		return 0, pushbackNone
	case 1:
	default:
		return 0, pushbackStop
	}
	ms, err := strconv.ParseInt(values[0], 10, 64)
	if err != nil || ms < 0 {
		// Out of int64's range counts as unparseable, as in grpc-go.
		return 0, pushbackStop
	}
	if ms >= int64(maxPushback/time.Millisecond) {
		return maxPushback, pushbackRetry
	}
	return time.Duration(ms) * time.Millisecond, pushbackRetry
}
