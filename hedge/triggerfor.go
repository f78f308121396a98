package hedge

import (
	"github.com/regoresilience/rego/policy"
)

// TriggerFor returns the Trigger a hedge policy asks for: [Fixed] at h.Delay
// when h.Percentile is 0, else [Percentile] at h.Percentile with h.Delay as
// its fallback, bounded to [h.MinDelay, h.MaxDelay] (as policy.Hedge
// documents, the bounds apply to the percentile trigger only; its fallback
// included, so a cold key never hedges earlier than MinDelay either).
//
// TriggerFor does not validate h (policy.Validate does); odd values degrade
// as documented on Fixed and Percentile, without panicking.
func TriggerFor(h policy.Hedge) Trigger {
	if h.Percentile == 0 {
		return Fixed{D: h.Delay}
	}
	return Percentile{
		P:          h.Percentile,
		MinSamples: h.MinSamples,
		Fallback:   h.Delay,
		Min:        h.MinDelay,
		Max:        h.MaxDelay,
	}
}
