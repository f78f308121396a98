package engine

import (
	"context"
	"testing"
	"time"

	"github.com/regoresilience/rego/observe"
	"github.com/regoresilience/rego/policy"
)

// The success path: the op answers at once on its first attempt.
func BenchmarkDo(b *testing.B) {
	retry := policy.Retry{MaxAttempts: 3, InitialBackoff: 10 * time.Millisecond, MaxBackoff: time.Second, Multiplier: 2}
	cases := []struct {
		name string
		p    policy.Policy
	}{
		{"success", policy.Policy{Retry: retry}},
		{"success-attempt-timeout", policy.Policy{Retry: func() policy.Retry { r := retry; r.AttemptTimeout = time.Second; return r }()}},
		{"hedge-armed", policy.Policy{Retry: retry, Hedge: policy.Hedge{MaxHedges: 1, Delay: time.Second}}},
		{"hedge-armed-percentile", policy.Policy{Retry: retry, Hedge: policy.Hedge{MaxHedges: 1, Delay: time.Second, Percentile: 95}}},
	}
	ctx := context.Background()
	op := func(context.Context) error { return nil }
	for _, tc := range cases {
		e := newEngine(b, withPolicy(tc.p))
		b.Run(tc.name+"/seq", func(b *testing.B) {
			b.ReportAllocs()
			for range b.N {
				e.Do(ctx, key, op)
			}
		})
		b.Run(tc.name+"/par", func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					e.Do(ctx, key, op)
				}
			})
		})
	}
}

// BenchmarkDoCancelCtx is the success path under a cancelable caller context,
// with an op that watches ctx.Done as real clients do.
func BenchmarkDoCancelCtx(b *testing.B) {
	e := newEngine(b, withPolicy(policy.Policy{Retry: policy.Retry{MaxAttempts: 3, AttemptTimeout: time.Second}}))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	op := func(ctx context.Context) error { <-ctx.Done(); return nil }
	_ = op
	watch := func(ctx context.Context) error {
		select {
		case <-ctx.Done():
			return ctx.Err()
		default:
			return nil
		}
	}
	b.ReportAllocs()
	for range b.N {
		e.Do(ctx, key, watch)
	}
}

// nopHook is an attempt hook that does nothing.
type nopHook struct{}

func (nopHook) StartAttempt(ctx context.Context, _ observe.AttemptInfo) context.Context { return ctx }
func (nopHook) EndAttempt(context.Context, AttemptEnd)                                  {}

// BenchmarkAttemptHook is the success path without an attempt hook (the
// same path as BenchmarkDo/success: the hook's only cost when unset is a nil
// check) and with one that does nothing (the engine's own cost of a hook).
func BenchmarkAttemptHook(b *testing.B) {
	p := policy.Policy{Retry: policy.Retry{MaxAttempts: 3, InitialBackoff: 10 * time.Millisecond, MaxBackoff: time.Second, Multiplier: 2}}
	ctx := context.Background()
	op := func(context.Context) error { return nil }
	for _, tc := range []struct {
		name string
		opts []Option
	}{
		{"none", nil},
		{"nop-hook", []Option{WithAttemptHook(nopHook{})}},
	} {
		e := newEngine(b, append(tc.opts, withPolicy(p))...)
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for range b.N {
				e.Do(ctx, key, op)
			}
		})
	}
}
