package regootel

import (
	"testing"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/regoresilience/rego/classify"
	"github.com/regoresilience/rego/policy"
)

// TestSetCacheBound verifies the cache stops growing at its bound and that
// sets built past it carry the same attributes as cached ones.
func TestSetCacheBound(t *testing.T) {
	var c setCache
	c.init(2)
	keys := []setKey{
		{kind: kindAttempt, key: policy.Key{Namespace: "a", Name: "X"}, outcome: uint8(classify.Retryable), s: "error"},
		{kind: kindCall, key: policy.Key{Namespace: "a", Name: "X"}, outcome: 1, s: "budget"},
		{kind: kindBudget, key: policy.Key{Namespace: "b", Name: "Y"}, s: "shared"},
		{kind: kindKey, key: policy.Key{Namespace: "c", Name: "Z"}},
	}
	want := []string{
		"rego.hedge=false,rego.key=a.X,rego.outcome=retryable,rego.reason=error",
		"rego.key=a.X,rego.outcome=failure,rego.reason=budget",
		"rego.budget=shared,rego.key=b.Y",
		"rego.key=c.Z",
	}
	for round := range 2 {
		for i, k := range keys {
			set := setOf(c.get(k))
			if got := set.Encoded(attribute.DefaultEncoder()); got != want[i] {
				t.Errorf("round %d, set %d: %s, want %s", round, i, got, want[i])
			}
		}
	}
	if n := c.m.Size(); n != 2 || c.n.Load() != 2 {
		t.Errorf("cache holds %d sets (counted %d), want 2", n, c.n.Load())
	}
	if c.get(keys[0]) != c.get(keys[0]) {
		t.Error("a cached set is rebuilt")
	}
}

// setOf reads back the attribute set an option carries.
func setOf(o *measureOpts) attribute.Set {
	return metric.NewAddConfig(o.add).Attributes()
}
