package hedge

import (
	"testing"
	"time"

	"github.com/regoresilience/rego/policy"
)

// TestTriggerFor verifies the policy mapping: Fixed without a percentile,
// Percentile with Delay as fallback and MinDelay/MaxDelay as bounds
// otherwise.
func TestTriggerFor(t *testing.T) {
	ms := time.Millisecond
	for _, c := range []struct {
		name string
		h    policy.Hedge
		want Trigger
	}{
		{"zero", policy.Hedge{}, Fixed{}},
		{"fixed", policy.Hedge{MaxHedges: 1, Delay: 50 * ms}, Fixed{D: 50 * ms}},
		{"fixed ignores bounds", policy.Hedge{MaxHedges: 1, Delay: 2 * ms, MinDelay: 5 * ms, MaxDelay: 10 * ms}, Fixed{D: 2 * ms}},
		{"percentile", policy.Hedge{MaxHedges: 2, Delay: 50 * ms, Percentile: 95, MinSamples: 200, MinDelay: 5 * ms, MaxDelay: time.Second},
			Percentile{P: 95, MinSamples: 200, Fallback: 50 * ms, Min: 5 * ms, Max: time.Second}},
		{"percentile defaults", policy.Hedge{MaxHedges: 1, Percentile: 99.9},
			Percentile{P: 99.9}},
	} {
		if got := TriggerFor(c.h); got != c.want {
			t.Errorf("%s: TriggerFor(%+v) = %#v, want %#v", c.name, c.h, got, c.want)
		}
	}
}

// TestTriggerForNormalizedPolicy verifies a normalized policy yields a
// trigger that falls back to the policy's Delay until MinSamples.
func TestTriggerForNormalizedPolicy(t *testing.T) {
	p := policy.Policy{Hedge: policy.Hedge{MaxHedges: 1, Delay: 40 * time.Millisecond, Percentile: 90}}.Normalize()
	trig := TriggerFor(p.Hedge)
	tr := mustTracker(t, TrackerConfig{}, t0)
	tr.Record(time.Millisecond, t0)
	if got, want := trig.Delay(tr, t0), bound(40*time.Millisecond, p.Hedge.MinDelay, p.Hedge.MaxDelay); got != want {
		t.Fatalf("one sample: Delay = %v, want the bounded fallback %v", got, want)
	}
}
