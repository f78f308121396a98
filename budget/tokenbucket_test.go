package budget

import (
	"errors"
	"math"
	"strings"
	"sync"
	"testing"
)

func mustTokenBucket(t testing.TB, c TokenBucketConfig) *TokenBucket {
	t.Helper()
	b, err := NewTokenBucket(c)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestNewTokenBucketRejectsBadConfig verifies the config checks.
func TestNewTokenBucketRejectsBadConfig(t *testing.T) {
	for _, tc := range []struct {
		c     TokenBucketConfig
		field string
		msg   string
	}{
		{TokenBucketConfig{MaxTokens: 0, TokenRatio: 1}, "MaxTokens", "must be >= 0.001, got 0"},
		{TokenBucketConfig{MaxTokens: -3, TokenRatio: 1}, "MaxTokens", "must be >= 0.001"},
		{TokenBucketConfig{MaxTokens: math.NaN(), TokenRatio: 1}, "MaxTokens", "finite"},
		{TokenBucketConfig{MaxTokens: 2e6, TokenRatio: 1}, "MaxTokens", "must be <= 1e+06"},
		{TokenBucketConfig{MaxTokens: 10, TokenRatio: 0}, "TokenRatio", "must be >= 0.001, got 0"},
		{TokenBucketConfig{MaxTokens: 10, TokenRatio: math.Inf(-1)}, "TokenRatio", "finite"},
	} {
		b, err := NewTokenBucket(tc.c)
		var ce *ConfigError
		if b != nil || !errors.Is(err, ErrInvalidConfig) || !errors.As(err, &ce) ||
			ce.Kind != "token_bucket" || ce.Field != tc.field || !strings.Contains(ce.Msg, tc.msg) {
			t.Errorf("NewTokenBucket(%+v) = %v, %v; want a %s error containing %q", tc.c, b, err, tc.field, tc.msg)
		}
	}
}

// TestTokenBucketGRPCSemantics walks through gRPC's retry throttling rules:
// start full, −1 per failure, +TokenRatio per success, clamp to [0, max],
// retries only while tokens > max/2.
func TestTokenBucketGRPCSemantics(t *testing.T) {
	b := mustTokenBucket(t, TokenBucketConfig{MaxTokens: 10, TokenRatio: 0.1})
	want := func(tokens float64, allowed bool) {
		t.Helper()
		if s := b.Stats(); s.Tokens != tokens || s.MaxTokens != 10 {
			t.Fatalf("Stats = %+v; want %v tokens", s, tokens)
		}
		if got := b.TryAcquire(); got != allowed {
			t.Fatalf("at %v tokens TryAcquire = %v, want %v", tokens, got, allowed)
		}
	}
	want(10, true)
	b.Record(true, true) // clamped at max
	want(10, true)
	for range 4 {
		b.Record(false, false)
	}
	want(6, true)
	b.Record(true, false)
	want(5, false) // exactly half is not enough
	b.Release()    // a no-op
	want(5, false)
	b.Record(false, true)
	want(5.1, true)
	for range 20 {
		b.Record(true, false)
	}
	want(0, false) // clamped at zero
	for range 51 {
		b.Record(true, true)
	}
	want(5.1, true) // 51 × 0.1, without float drift
	if s := b.Stats(); s.Acquired != 5 || s.Denied != 3 {
		t.Fatalf("Stats = %+v; want 5 acquired, 3 denied", s)
	}
}

// TestTokenBucketConcurrentRecords verifies that concurrent Records conserve
// tokens: away from the clamps, the balance is exactly the sum of the deltas.
func TestTokenBucketConcurrentRecords(t *testing.T) {
	b := mustTokenBucket(t, TokenBucketConfig{MaxTokens: 10000, TokenRatio: 0.5})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 1000 {
				b.Record(false, false)
				if (g+i)%2 == 0 {
					b.Record(false, true)
				}
				b.TryAcquire()
			}
		})
	}
	wg.Wait()
	// 8000 failures (−8000), 4000 successes (+2000).
	if s := b.Stats(); s.Tokens != 4000 || s.Acquired+s.Denied != 8000 {
		t.Fatalf("Stats = %+v; want 4000 tokens and 8000 decisions", s)
	}
}
