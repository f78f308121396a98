package budget

import (
	"errors"
	"math"
	"sync/atomic"
	"time"
)

// TokenBucketConfig configures a [TokenBucket]. See [NewTokenBucket].
type TokenBucketConfig struct {
	// MaxTokens is the bucket's capacity; it starts full. Range [0.001, 1e6].
	MaxTokens float64
	// TokenRatio is what one accepted attempt earns back (a failed one costs
	// 1). Like gRPC, it is kept to three decimal places. Range [0.001, 1e6].
	TokenRatio float64
}

// milli is the fixed-point scale of a TokenBucket: tokens are counted in
// thousandths, exactly as gRPC does, so no float rounding drifts the balance.
const milli = 1000

// TokenBucket is gRPC's retry throttling: every attempt that the backend did
// not accept costs one token, every accepted one earns TokenRatio, the
// balance stays within [0, MaxTokens], and retries (and hedges) are allowed
// while the bucket is more than half full. It has no clock: it reacts to
// outcomes, not to time, so a backend that is failing keeps the bucket low
// until it starts succeeding again.
//
// TryAcquire only reads the balance and Release is a no-op: the bucket is
// spent by the failures Record reports. A TokenBucket is safe for concurrent
// use, lock-free and allocation-free. Create it with [NewTokenBucket]; the
// zero value is not usable, and a TokenBucket must not be copied.
type TokenBucket struct {
	max, ratio int64        // in milli-tokens; immutable
	tokens     atomic.Int64 // in milli-tokens, always within [0, max]
	// Lifetime counters, only for Stats.
	acquired, denied atomic.Uint64
}

var (
	_ Budget = (*TokenBucket)(nil)
	_ Timed  = (*TokenBucket)(nil)
)

// NewTokenBucket validates c and returns a full bucket. Errors are
// [*ConfigError]s joined with errors.Join, each matching
// errors.Is(err, ErrInvalidConfig).
func NewTokenBucket(c TokenBucketConfig) (*TokenBucket, error) {
	var errs []error
	errs = checkFloat(errs, "token_bucket", "MaxTokens", c.MaxTokens, 1.0/milli, MaxRate)
	errs = checkFloat(errs, "token_bucket", "TokenRatio", c.TokenRatio, 1.0/milli, MaxRate)
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	b := &TokenBucket{
		max:   int64(math.Round(c.MaxTokens * milli)),
		ratio: int64(math.Round(c.TokenRatio * milli)),
	}
	b.tokens.Store(b.max)
	return b, nil
}

// TryAcquire reports whether more than half the tokens are left. It never
// waits and takes nothing: failures, reported through Record, drain the
// bucket.
func (b *TokenBucket) TryAcquire() bool {
	if 2*b.tokens.Load() > b.max {
		b.acquired.Add(1)
		return true
	}
	b.denied.Add(1)
	return false
}

// Release does nothing: a TokenBucket does not count attempts in flight.
func (b *TokenBucket) Release() {}

// Record takes one token for an attempt the backend did not accept and gives
// back TokenRatio for one it accepted, first attempts and retries alike.
func (b *TokenBucket) Record(first, ok bool) {
	delta := int64(-milli)
	if ok {
		delta = b.ratio
	}
	for {
		old := b.tokens.Load()
		nw := min(max(old+delta, 0), b.max)
		if nw == old || b.tokens.CompareAndSwap(old, nw) {
			return // nw == old: already at the bound, skip the write
		}
	}
}

// TryAcquireAt is TryAcquire: a TokenBucket has no clock.
func (b *TokenBucket) TryAcquireAt(now time.Time) bool { return b.TryAcquire() }

// RecordAt is Record: a TokenBucket has no clock.
func (b *TokenBucket) RecordAt(now time.Time, first, ok bool) { b.Record(first, ok) }

// TokenBucketStats is a point-in-time view of a [TokenBucket].
type TokenBucketStats struct {
	Acquired, Denied uint64  // TryAcquire results since creation
	Tokens           float64 // current balance
	MaxTokens        float64 // capacity; retries are allowed while Tokens > MaxTokens/2
}

// Stats returns the bucket's counters.
func (b *TokenBucket) Stats() TokenBucketStats {
	return TokenBucketStats{
		Acquired:  b.acquired.Load(),
		Denied:    b.denied.Load(),
		Tokens:    float64(b.tokens.Load()) / milli,
		MaxTokens: float64(b.max) / milli,
	}
}
