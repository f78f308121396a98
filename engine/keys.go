package engine

import (
	"github.com/regoresilience/rego/breaker"
	"github.com/regoresilience/rego/budget"
	"github.com/regoresilience/rego/classify"
	"github.com/regoresilience/rego/controlplane"
	"github.com/regoresilience/rego/hedge"
	"github.com/regoresilience/rego/keyworker"
	"github.com/regoresilience/rego/observe"
	"github.com/regoresilience/rego/policy"
)

// snapExt is the engine's part of a key's snapshot (keyworker.Snapshot.Ext):
// what it derived from the policy besides what the worker needs. Immutable.
type snapExt struct {
	w          *keyworker.Worker // the worker the snapshot is published on
	source     string            // the provider's source, or "default"
	classifier classify.Classifier
	admitter   budget.Admitter // non-nil when the retry budget also gates first attempts
	samples    bool            // the key's worker learns from latency samples
	// recordHedge: attempts are recorded into the hedge budget too. Not when
	// the policy does not hedge, nor when the hedge budget shares the retry
	// budget's deposits (a key's default pair): that would count them twice.
	recordHedge bool
	retryName   string // for budget-denied events
	hedgeName   string
	fallbacks   []observe.Event  // recorded on every call's timeline (At is filled in per call)
	breaker     *breaker.Breaker // the key's circuit breaker; nil = off (engine/breaker.go)
}

// snapshot returns the key's worker and its snapshot for the provider's current
// policies. The hit path is one lock-free map load, one atomic load of the
// provider's snapshot and one of the worker's.
func (e *Engine) snapshot(key policy.Key) (*keyworker.Worker, *keyworker.Snapshot) {
	src := e.provider.Current()
	w, overflow := e.workerFor(key)
	if s := w.Snapshot(); s != nil && s.Source == src {
		return w, s
	}
	// Racing resolvers compute equivalent snapshots; Publish keeps the last.
	s := e.resolve(w, overflow, src)
	w.Publish(s)
	return w, s
}

func (e *Engine) workerFor(key policy.Key) (*keyworker.Worker, bool) {
	if w, ok := e.pool.Lookup(key); ok {
		return w, false
	}
	// First use of the key (or first since its eviction): check it once.
	if err := key.Validate(); err != nil {
		// Keys that fail validation get no worker of their own.
		e.warnOnce("rego: invalid policy key; it shares the overflow worker and the default policy", "key", key.String(), "err", err)
		return e.pool.Overflow(), true
	}
	return e.pool.Get(key)
}

func (e *Engine) resolve(w *keyworker.Worker, overflow bool, src *controlplane.Snapshot) *keyworker.Snapshot {
	s := &keyworker.Snapshot{Source: src, Policy: e.defaults}
	x := &snapExt{w: w, source: "default", classifier: classify.Default}
	s.Ext = x
	if src != nil {
		s.Version = src.Version
		if overflow {
			x.fallbacks = append(x.fallbacks, fallback("key", "invalid key or too many keys: overflow worker, default policy"))
		} else if p, pattern, ok := src.Set.Resolve(w.Key()); ok {
			s.Policy, s.Pattern, x.source = p, pattern, string(src.Source)
		}
		if src.Source == controlplane.SourceFallback {
			x.fallbacks = append(x.fallbacks, fallback("policy", "provider has no policy in force: default policy"))
		}
	}
	p := &s.Policy
	if name := p.Classifier; name != "" {
		if c, ok := e.classifiers.Lookup(name); ok {
			x.classifier = c
		} else {
			e.warnOnce("rego: policy names an unregistered classifier; using the default classifier", "classifier", name)
			x.fallbacks = append(x.fallbacks, fallback("classifier", "classifier "+name+" not registered: default classifier"))
		}
	}
	s.RetryBudget, x.retryName = e.budgetFor(p.RetryBudget, w.Retry, "retry", x)
	s.HedgeBudget, x.hedgeName = e.budgetFor(p.HedgeBudget, w.Hedge, "hedge", x)
	if a, ok := s.RetryBudget.(budget.Admitter); ok && p.RetryBudget != "" {
		x.admitter = a
	}
	x.recordHedge = p.Hedge.MaxHedges > 0 && !budget.SharesDeposits(s.RetryBudget, s.HedgeBudget)
	x.breaker = e.breakerFor(w, overflow, p) // breaker hook: per key, kept while its config is unchanged
	if p.Hedge.MaxHedges > 0 {
		s.Trigger = hedge.TriggerFor(p.Hedge)
		s.HedgeDelay = s.Trigger.Delay(nil, e.clock.Now())
		_, x.samples = s.Trigger.(hedge.Percentile)
	}
	return s
}

// budgetFor resolves a policy's budget name: a registered shared budget, else
// (empty name) the key's own default, else the configured failure mode.
func (e *Engine) budgetFor(name string, own budget.Budget, kind string, x *snapExt) (budget.Budget, string) {
	if name == "" {
		if own == nil {
			return unlimited{}, "none"
		}
		return own, "key-default-" + kind
	}
	if b, ok := e.budgets.Lookup(name); ok {
		return b, name
	}
	e.warnOnce("rego: policy names an unregistered budget", "budget", name, "mode", e.missing.String())
	x.fallbacks = append(x.fallbacks, fallback("budget", kind+" budget "+name+" not registered: "+e.missing.String()))
	if e.missing == FailClosed {
		return denyAll{}, name
	}
	return unlimited{}, name
}

func fallback(name, detail string) observe.Event {
	return observe.Event{Kind: observe.EventFallback, Attempt: -1, Name: name, Detail: detail}
}

// unlimited stands in for a disabled budget: it never refuses.
type unlimited struct{}

func (unlimited) TryAcquire() bool  { return true }
func (unlimited) Release()          {}
func (unlimited) Record(bool, bool) {}

// denyAll stands in for a missing budget under FailClosed: it always refuses.
type denyAll struct{}

func (denyAll) TryAcquire() bool  { return false }
func (denyAll) Release()          {}
func (denyAll) Record(bool, bool) {}
