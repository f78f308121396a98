package policy_test

import (
	"errors"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/regoresilience/rego/policy"
)

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		p    policy.Policy
		want []string // every "path: msg", in order; nil = valid
	}{
		{"zero", policy.Policy{}, nil},
		{"default", policy.Default(), nil},
		{"capped values are fine", policy.Policy{
			Retry:   policy.Retry{MaxAttempts: 1000, InitialBackoff: time.Hour, MaxBackoff: time.Second, AttemptTimeout: time.Hour},
			Hedge:   policy.Hedge{MaxHedges: 100, Delay: time.Millisecond, MinDelay: time.Second, MaxDelay: time.Millisecond},
			Timeout: time.Second,
		}, nil},
		{"full valid", policy.Policy{
			Retry: policy.Retry{MaxAttempts: 4, InitialBackoff: time.Millisecond, MaxBackoff: 24 * time.Hour,
				Multiplier: 1, Jitter: policy.JitterNone, AttemptTimeout: time.Second, MaxRetryAfter: time.Minute},
			Hedge: policy.Hedge{MaxHedges: 2, Delay: time.Millisecond, Percentile: 99.9, MinSamples: 1_000_000,
				MinDelay: time.Millisecond, MaxDelay: time.Second},
			Timeout: 2 * time.Second, Classifier: "http", RetryBudget: "shared budget", HedgeBudget: "h",
		}, nil},
		{"negative attempts", policy.Policy{Retry: policy.Retry{MaxAttempts: -1}},
			[]string{"retry.max_attempts: must be >= 1"}},
		{"absurd attempts", policy.Policy{Retry: policy.Retry{MaxAttempts: 1001}},
			[]string{"retry.max_attempts: must be <= 1000"}},
		{"negative durations", policy.Policy{
			Retry:   policy.Retry{InitialBackoff: -1, MaxBackoff: -1, AttemptTimeout: -1, MaxRetryAfter: -1},
			Hedge:   policy.Hedge{Delay: -1, MinDelay: -1, MaxDelay: -1},
			Timeout: -time.Second,
		}, []string{
			"retry.initial_backoff: must not be negative",
			"retry.max_backoff: must not be negative",
			"retry.attempt_timeout: must not be negative",
			"retry.max_retry_after: must not be negative",
			"hedge.delay: must not be negative",
			"hedge.min_delay: must not be negative",
			"hedge.max_delay: must not be negative",
			"timeout: must not be negative",
		}},
		{"absurd durations", policy.Policy{
			Retry:   policy.Retry{InitialBackoff: 25 * time.Hour, MaxRetryAfter: math.MaxInt64},
			Timeout: 24*time.Hour + 1,
		}, []string{
			"retry.initial_backoff: must be <= 24h",
			"retry.max_retry_after: must be <= 24h",
			"timeout: must be <= 24h",
		}},
		{"multiplier below one", policy.Policy{Retry: policy.Retry{Multiplier: 0.99}},
			[]string{"retry.multiplier: must be >= 1"}},
		{"multiplier negative", policy.Policy{Retry: policy.Retry{Multiplier: -2}},
			[]string{"retry.multiplier: must be >= 1"}},
		{"multiplier NaN", policy.Policy{Retry: policy.Retry{Multiplier: math.NaN()}},
			[]string{"retry.multiplier: must be a finite number"}},
		{"multiplier Inf", policy.Policy{Retry: policy.Retry{Multiplier: math.Inf(1)}},
			[]string{"retry.multiplier: must be a finite number"}},
		{"multiplier absurd", policy.Policy{Retry: policy.Retry{Multiplier: 101}},
			[]string{"retry.multiplier: must be <= 100"}},
		{"undefined jitter", policy.Policy{Retry: policy.Retry{Jitter: 4}},
			[]string{`retry.jitter: unknown mode "Jitter(4)" (want "full", "equal", "decorrelated" or "none")`}},
		{"negative hedges", policy.Policy{Hedge: policy.Hedge{MaxHedges: -1}},
			[]string{"hedge.max_hedges: must not be negative"}},
		{"absurd hedges", policy.Policy{Hedge: policy.Hedge{MaxHedges: 101, Delay: time.Millisecond}},
			[]string{"hedge.max_hedges: must be <= 100"}},
		{"hedge without delay", policy.Policy{Hedge: policy.Hedge{MaxHedges: 1, Percentile: 95}},
			[]string{"hedge.delay: must be > 0 when max_hedges > 0"}},
		{"delay without hedges is inert", policy.Policy{Hedge: policy.Hedge{Delay: time.Second}}, nil},
		{"percentile 100", policy.Policy{Hedge: policy.Hedge{Percentile: 100}},
			[]string{"hedge.percentile: must be > 0 and < 100"}},
		{"percentile negative", policy.Policy{Hedge: policy.Hedge{Percentile: -5}},
			[]string{"hedge.percentile: must be > 0 and < 100"}},
		{"percentile NaN", policy.Policy{Hedge: policy.Hedge{Percentile: math.NaN()}},
			[]string{"hedge.percentile: must be a finite number"}},
		{"min samples", policy.Policy{Hedge: policy.Hedge{MinSamples: -1}},
			[]string{"hedge.min_samples: must not be negative"}},
		{"min samples absurd", policy.Policy{Hedge: policy.Hedge{MinSamples: 1_000_001}},
			[]string{"hedge.min_samples: must be <= 1000000"}},
		{"names", policy.Policy{Classifier: " http", RetryBudget: "a\x00", HedgeBudget: strings.Repeat("b", 129)},
			[]string{
				"classifier: must not start or end with whitespace",
				`retry_budget: must not contain non-printable character '\x00'`,
				"hedge_budget: must be at most 128 bytes",
			}},
		{"invalid utf8 name", policy.Policy{Classifier: "\xff"},
			[]string{"classifier: must be valid UTF-8"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.p.Validate()
			got := fieldErrors(err)
			if !slices.Equal(got, tt.want) {
				t.Fatalf("Validate()\n got %q\nwant %q", got, tt.want)
			}
			if err == nil {
				return
			}
			if !allMatch(err, policy.ErrInvalidPolicy) || !errors.Is(err, policy.ErrInvalidPolicy) {
				t.Errorf("errors.Is(%v, ErrInvalidPolicy) = false", err)
			}
			var fe *policy.FieldError
			if !errors.As(err, &fe) || fe.Path+": "+fe.Msg != tt.want[0] {
				t.Errorf("errors.As(*FieldError) = %+v, want the first problem %q", fe, tt.want[0])
			}
		})
	}
}

// TestValidateManyProblems verifies that all problems are reported at once.
func TestValidateManyProblems(t *testing.T) {
	p := policy.Policy{Retry: policy.Retry{MaxAttempts: -1, Multiplier: 0.1}, Hedge: policy.Hedge{Percentile: 200}}
	got := fieldErrors(p.Validate())
	want := []string{"retry.max_attempts: must be >= 1", "retry.multiplier: must be >= 1", "hedge.percentile: must be > 0 and < 100"}
	if !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestFieldError(t *testing.T) {
	e := &policy.FieldError{Path: "retry.max_attempts", Msg: "must be >= 1"}
	if e.Error() != "retry.max_attempts: must be >= 1" {
		t.Errorf("Error() = %q", e.Error())
	}
	if !errors.Is(e, policy.ErrInvalidPolicy) || errors.Is(e, policy.ErrInvalidKey) {
		t.Error("FieldError must match ErrInvalidPolicy only")
	}
}
