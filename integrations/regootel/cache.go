package regootel

import (
	"sync/atomic"

	"github.com/puzpuzpuz/xsync/v3"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/regoresilience/rego/classify"
	"github.com/regoresilience/rego/policy"
)

// maxCachedSets bounds the attribute-set cache. The engine bounds keys
// (10,000 by default) and a key sees a handful of (outcome, reason) pairs,
// so the bound is only reached by very wide deployments; past it, sets are
// built per measurement, which is correct, only slower.
const maxCachedSets = 16384

// setKind says which attributes a cached set holds.
type setKind uint8

const (
	kindAttempt setKind = iota // key, outcome (classify.Outcome), reason, hedge
	kindCall                   // key, outcome (0 success, 1 failure), reason
	kindKey                    // key alone
	kindBudget                 // key, budget name (s)
)

// setKey identifies one attribute set. It is comparable and holds no
// pointer to per-call data (strings are shared with the engine's policy
// keys and the classifiers' constant reasons).
type setKey struct {
	kind    setKind
	outcome uint8
	hedge   bool
	key     policy.Key
	s       string // reason, or budget name
}

// measureOpts is one attribute set as ready-made instrument options: passing
// a stored slice with ... allocates nothing, where building the option per
// measurement would allocate the option and its slice.
type measureOpts struct {
	add []metric.AddOption
	rec []metric.RecordOption
}

// setCache maps a setKey to its options. Entries are never removed: their
// number is bounded by n < max (n may overshoot max by the number of
// concurrent first stores, which is harmless).
type setCache struct {
	m   *xsync.MapOf[setKey, *measureOpts]
	n   atomic.Int64
	max int64
}

func (c *setCache) init(max int) {
	c.m = xsync.NewMapOf[setKey, *measureOpts]()
	c.max = int64(max)
}

func (c *setCache) get(k setKey) *measureOpts {
	if v, ok := c.m.Load(k); ok {
		return v
	}
	v := build(k)
	if c.n.Load() >= c.max {
		return v
	}
	v, loaded := c.m.LoadOrStore(k, v)
	if !loaded {
		c.n.Add(1)
	}
	return v
}

func build(k setKey) *measureOpts {
	attrs := make([]attribute.KeyValue, 0, 4)
	attrs = append(attrs, keyKey.String(k.key.String()))
	switch k.kind {
	case kindAttempt:
		attrs = append(attrs,
			keyOutcome.String(classify.Outcome(k.outcome).String()),
			keyReason.String(k.s),
			keyHedge.Bool(k.hedge))
	case kindCall:
		outcome := outcomeSuccess
		if k.outcome != 0 {
			outcome = outcomeFailure
		}
		attrs = append(attrs, keyOutcome.String(outcome), keyReason.String(k.s))
	case kindBudget:
		attrs = append(attrs, keyBudget.String(k.s))
	}
	opt := metric.WithAttributeSet(attribute.NewSet(attrs...))
	return &measureOpts{add: []metric.AddOption{opt}, rec: []metric.RecordOption{opt}}
}
