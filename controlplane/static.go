package controlplane

import "github.com/regoresilience/rego/policy"

// staticProvider never changes after NewStatic.
type staticProvider struct{ core }

// NewStatic returns a Provider holding a fixed set of policies, keyed by pattern:
// "ns.Name" (exact), "ns.Prefix.*" (the names under a dotted prefix), "ns.*" (a
// namespace) or "*" (everything); see policy.ValidatePattern. The map is
// validated and copied (normalized) by policy.NewSet; later changes to it have no
// effect. A nil or empty map is valid: no policies, the engine default applies.
//
// Invalid input does not panic and does not return an error: Current() is then a
// fallback snapshot (Set nil, Source SourceFallback, Version 0) and
// Status().LastError is a *LoadError (Origin OriginStatic) naming the pattern and the
// field, matching errors.Is(err, policy.ErrInvalidPolicy). The engine's New turns
// that into an error, so a typo in code fails at start rather than silently.
func NewStatic(policies map[string]policy.Policy) Provider {
	p := &staticProvider{}
	p.init(nil)
	set, err := policy.NewSet(policies)
	if err != nil {
		p.fail(&LoadError{Origin: OriginStatic, Err: err})
		return p
	}
	digest := ""
	if doc, err := policy.MarshalDocument(set); err == nil {
		digest = digestOf(doc)
	}
	p.publish(set, SourceStatic, digest, 0, "")
	return p
}

// Close does nothing: a static provider has no background work.
func (p *staticProvider) Close() error { return nil }
