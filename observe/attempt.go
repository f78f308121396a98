package observe

import (
	"context"
	"time"

	"github.com/regoresilience/rego/internal/attemptkey"
	"github.com/regoresilience/rego/policy"
)

// AttemptInfo tells an operation which attempt it is running. The engine
// puts it in the context passed to the operation; read it with
// [AttemptFromContext].
type AttemptInfo struct {
	Key      policy.Key // the operation being called
	Index    int        // 0-based attempt index within the call, in start order
	Hedge    bool       // a hedge, running in parallel with an earlier attempt
	Deadline time.Time  // this attempt's deadline (zero = none)
}

// attemptSource is an attempt stored in a context (under attemptkey.Key)
// that computes its AttemptInfo when asked. rego's first attempts use it:
// their context is then 48 bytes instead of 128, on the path nearly every
// call takes.
type attemptSource interface {
	AttemptInfo() AttemptInfo
}

// AttemptFromContext returns the attempt running in ctx. ok is false when
// ctx is nil or carries no attempt (the code is not running under rego).
// It does not allocate.
func AttemptFromContext(ctx context.Context) (AttemptInfo, bool) {
	if ctx == nil {
		return AttemptInfo{}, false
	}
	v := ctx.Value(attemptkey.Key{})
	switch v := v.(type) {
	case *AttemptInfo:
		if v != nil {
			return *v, true
		}
	case attemptSource:
		return v.AttemptInfo(), true
	case AttemptInfo:
		return v, true
	}
	return AttemptInfo{}, false
}

// ContextWithAttempt returns a copy of ctx carrying info, for executors that
// do not build their own context type and for tests of code that reads
// [AttemptFromContext]. A nil ctx is treated as context.Background().
func ContextWithAttempt(ctx context.Context, info AttemptInfo) context.Context {
	if ctx == nil {
		ctx = context.Background()
	}
	return context.WithValue(ctx, attemptkey.Key{}, &info)
}
