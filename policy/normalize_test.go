package policy_test

import (
	"math"
	"testing"
	"time"

	"github.com/regoresilience/rego/policy"
)

func TestDefault(t *testing.T) {
	d := policy.Default()
	want := policy.Policy{Retry: policy.Retry{
		MaxAttempts: 3, InitialBackoff: 100 * time.Millisecond, MaxBackoff: 5 * time.Second,
		Multiplier: 2, Jitter: policy.JitterFull, MaxRetryAfter: 30 * time.Second,
	}}
	if d != want {
		t.Errorf("Default() = %+v, want %+v", d, want)
	}
	if err := d.Validate(); err != nil {
		t.Errorf("Default().Validate() = %v", err)
	}
	if n := d.Normalize(); n != d {
		t.Errorf("Default().Normalize() = %+v, want Default()", n)
	}
	if n := (policy.Policy{}).Normalize(); n != d {
		t.Errorf("Policy{}.Normalize() = %+v, want Default()", n)
	}
}

func TestNormalize(t *testing.T) {
	def := policy.Default()
	with := func(f func(*policy.Policy)) policy.Policy {
		p := def
		f(&p)
		return p
	}
	tests := []struct {
		name string
		in   policy.Policy
		want policy.Policy
	}{
		{"zero is default", policy.Policy{}, def},
		{"attempts capped", policy.Policy{Retry: policy.Retry{MaxAttempts: 500}},
			with(func(p *policy.Policy) { p.Retry.MaxAttempts = policy.MaxAttemptsLimit })},
		{"one attempt kept", policy.Policy{Retry: policy.Retry{MaxAttempts: 1}},
			with(func(p *policy.Policy) { p.Retry.MaxAttempts = 1 })},
		{"negative attempts default", policy.Policy{Retry: policy.Retry{MaxAttempts: -4}}, def},
		{"max backoff raised to initial", policy.Policy{Retry: policy.Retry{InitialBackoff: 10 * time.Second}},
			with(func(p *policy.Policy) { p.Retry.InitialBackoff, p.Retry.MaxBackoff = 10*time.Second, 10*time.Second })},
		{"explicit max below initial", policy.Policy{Retry: policy.Retry{InitialBackoff: time.Second, MaxBackoff: time.Millisecond}},
			with(func(p *policy.Policy) { p.Retry.InitialBackoff, p.Retry.MaxBackoff = time.Second, time.Second })},
		{"multiplier below 1", policy.Policy{Retry: policy.Retry{Multiplier: 0.5}},
			with(func(p *policy.Policy) { p.Retry.Multiplier = 1 })},
		{"multiplier NaN", policy.Policy{Retry: policy.Retry{Multiplier: math.NaN()}}, def},
		{"multiplier +Inf", policy.Policy{Retry: policy.Retry{Multiplier: math.Inf(1)}},
			with(func(p *policy.Policy) { p.Retry.Multiplier = 100 })},
		{"undefined jitter", policy.Policy{Retry: policy.Retry{Jitter: 9}}, def},
		{"jitter kept", policy.Policy{Retry: policy.Retry{Jitter: policy.JitterDecorrelated}},
			with(func(p *policy.Policy) { p.Retry.Jitter = policy.JitterDecorrelated })},
		{"attempt timeout within timeout", policy.Policy{Retry: policy.Retry{AttemptTimeout: 5 * time.Second}, Timeout: 2 * time.Second},
			with(func(p *policy.Policy) { p.Retry.AttemptTimeout, p.Timeout = 2*time.Second, 2*time.Second })},
		{"attempt timeout without timeout", policy.Policy{Retry: policy.Retry{AttemptTimeout: 5 * time.Second}},
			with(func(p *policy.Policy) { p.Retry.AttemptTimeout = 5 * time.Second })},
		{"timeout without attempt timeout", policy.Policy{Timeout: time.Second},
			with(func(p *policy.Policy) { p.Timeout = time.Second })},
		{"negative durations", policy.Policy{Retry: policy.Retry{AttemptTimeout: -1, MaxRetryAfter: -1}, Timeout: -1}, def},
		{"huge durations clamp to 24h", policy.Policy{Retry: policy.Retry{InitialBackoff: math.MaxInt64}, Timeout: 48 * time.Hour},
			with(func(p *policy.Policy) {
				p.Retry.InitialBackoff, p.Retry.MaxBackoff, p.Timeout = 24*time.Hour, 24*time.Hour, 24*time.Hour
			})},
		{"hedges capped", policy.Policy{Hedge: policy.Hedge{MaxHedges: 50, Delay: time.Millisecond}},
			with(func(p *policy.Policy) {
				p.Hedge = policy.Hedge{MaxHedges: policy.MaxHedgesLimit, Delay: time.Millisecond}
			})},
		{"percentile gets min samples", policy.Policy{Hedge: policy.Hedge{MaxHedges: 1, Delay: time.Millisecond, Percentile: 95}},
			with(func(p *policy.Policy) {
				p.Hedge = policy.Hedge{MaxHedges: 1, Delay: time.Millisecond, Percentile: 95, MinSamples: 100}
			})},
		{"min samples kept", policy.Policy{Hedge: policy.Hedge{Percentile: 99, MinSamples: 7}},
			with(func(p *policy.Policy) { p.Hedge = policy.Hedge{Percentile: 99, MinSamples: 7} })},
		{"percentile out of range off", policy.Policy{Hedge: policy.Hedge{Percentile: 100}}, def},
		{"percentile NaN off", policy.Policy{Hedge: policy.Hedge{Percentile: math.NaN()}}, def},
		{"max delay raised to min", policy.Policy{Hedge: policy.Hedge{MinDelay: time.Second, MaxDelay: time.Millisecond}},
			with(func(p *policy.Policy) { p.Hedge = policy.Hedge{MinDelay: time.Second, MaxDelay: time.Second} })},
		{"max delay unset stays unbounded", policy.Policy{Hedge: policy.Hedge{MinDelay: time.Second}},
			with(func(p *policy.Policy) { p.Hedge = policy.Hedge{MinDelay: time.Second} })},
		{"names untouched", policy.Policy{Classifier: "http", RetryBudget: "r", HedgeBudget: "h"},
			with(func(p *policy.Policy) { p.Classifier, p.RetryBudget, p.HedgeBudget = "http", "r", "h" })},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.in.Normalize(); got != tt.want {
				t.Errorf("Normalize()\n got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

// TestNormalizeProperties checks, on many arbitrary policies (invalid ones
// included), that Normalize is idempotent, produces a valid policy, and
// respects the clamps it promises.
func TestNormalizeProperties(t *testing.T) {
	r := newRand(1)
	for i := range 20_000 {
		in := anyPolicy(r)
		n := in.Normalize()
		if again := n.Normalize(); again != n {
			t.Fatalf("#%d not idempotent:\n  in %+v\n  n1 %+v\n  n2 %+v", i, in, n, again)
		}
		// Normalize leaves two things for Validate alone to reject: hedging
		// without a delay, and bad registry names. Every other normalized
		// value is valid.
		v := n
		if v.Hedge.MaxHedges > 0 && v.Hedge.Delay == 0 {
			v.Hedge.Delay = time.Millisecond
		}
		v.Classifier, v.RetryBudget, v.HedgeBudget = "", "", ""
		if err := v.Validate(); err != nil {
			t.Fatalf("#%d normalized policy invalid: %v\n  in %+v\n  n %+v", i, err, in, n)
		}
		r, h := n.Retry, n.Hedge
		switch {
		case r.MaxAttempts < 1 || r.MaxAttempts > policy.MaxAttemptsLimit:
			t.Fatalf("#%d MaxAttempts %d out of range", i, r.MaxAttempts)
		case r.InitialBackoff <= 0 || r.MaxBackoff < r.InitialBackoff:
			t.Fatalf("#%d backoffs %v..%v", i, r.InitialBackoff, r.MaxBackoff)
		case !(r.Multiplier >= 1):
			t.Fatalf("#%d multiplier %v", i, r.Multiplier)
		case n.Timeout > 0 && r.AttemptTimeout > n.Timeout:
			t.Fatalf("#%d attempt timeout %v beyond timeout %v", i, r.AttemptTimeout, n.Timeout)
		case h.MaxHedges < 0 || h.MaxHedges > policy.MaxHedgesLimit:
			t.Fatalf("#%d MaxHedges %d", i, h.MaxHedges)
		case h.Percentile > 0 && h.MinSamples < 1:
			t.Fatalf("#%d percentile without min samples", i)
		case h.MaxDelay > 0 && h.MaxDelay < h.MinDelay:
			t.Fatalf("#%d hedge delays %v..%v", i, h.MinDelay, h.MaxDelay)
		}
	}
}
