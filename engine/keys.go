package engine

import (
	"time"

	"github.com/regoresilience/rego/breaker"
	"github.com/regoresilience/rego/budget"
	"github.com/regoresilience/rego/classify"
	"github.com/regoresilience/rego/controlplane"
	"github.com/regoresilience/rego/hedge"
	"github.com/regoresilience/rego/internal/keyworker"
	"github.com/regoresilience/rego/observe"
	"github.com/regoresilience/rego/policy"
)

// keyWorker is a key's actor, holding the engine's keyPolicy as its snapshot.
type keyWorker = keyworker.Worker[keyPolicy]

// keyPolicy is what the engine resolved for one key from one provider
// snapshot: the effective policy and every handle a call needs, built once
// so that a call only reads it. It is published on the key's worker and
// replaced, never modified, when the provider publishes a new policy
// version.
type keyPolicy struct {
	// from is the provider snapshot this was resolved from: a call compares
	// it, by pointer, with the provider's current one.
	from    *controlplane.Snapshot
	worker  *keyWorker    // the worker this is published on
	version uint64        // from.Version; 0 without a provider snapshot
	policy  policy.Policy // normalized
	pattern string        // the policy pattern that matched; "" = default
	origin  string        // the provider's source, or "default"

	classifier classify.Classifier
	// retryBudget and hedgeBudget gate retries and hedges. Never nil: an
	// unlimited budget stands in when budgets are disabled.
	retryBudget, hedgeBudget budget.Budget
	retryName, hedgeName     string          // for budget-denied events
	admitter                 budget.Admitter // non-nil when the retry budget also gates first attempts
	// recordHedge: attempts are recorded into the hedge budget too. Not when
	// the policy does not hedge, nor when the hedge budget shares the retry
	// budget's deposits (a key's default pair): that would count them twice.
	recordHedge bool

	// delay is the fixed hedge delay, or the latency-aware trigger's
	// fallback until the worker has learned a delay.
	delay time.Duration
	// learns: the trigger is latency-aware (percentile); the worker
	// learns its delay from the latencies the calls post.
	learns     bool
	percentile hedge.Percentile

	fallbacks []observe.Event // recorded on every call's timeline (At is filled in per call)

	breaker *breaker.Breaker // the key's circuit breaker; nil = off (engine/breaker.go)
}

// hedgeDelay returns the delay after which a round's first hedge fires.
func (kp *keyPolicy) hedgeDelay() time.Duration {
	if kp.learns {
		if d, ok := kp.worker.LearnedDelay(kp.percentile); ok {
			return d
		}
	}
	return kp.delay
}

// keyPolicy returns the key's resolved policy for the provider's current
// policies. The hit path is a cache hit (or one lock-free map load), one
// atomic load of the provider's snapshot and one of the worker's. A key
// that fails Key.Validate is refused with its *policy.KeyError, unless the
// engine routes such keys to the overflow worker (InvalidKeyOverflow).
func (e *Engine) keyPolicy(key policy.Key) (*keyPolicy, error) {
	src := e.provider.Current()
	w, overflow, err := e.workerFor(key)
	if err != nil {
		return nil, err
	}
	if kp := w.Snapshot(); kp != nil && kp.from == src {
		return kp, nil
	}
	// Racing resolvers compute equivalent policies; the last Publish stays.
	kp := e.resolve(w, overflow, src)
	w.Publish(kp)
	if kp.learns {
		w.Track(kp.percentile)
	}
	return kp, nil
}

func (e *Engine) workerFor(key policy.Key) (*keyWorker, bool, error) {
	if w, ok := e.pool.Lookup(key); ok {
		return w, false, nil
	}
	// First use of the key (or first since its eviction), or a key that
	// never gets a worker: check it.
	if err := key.Validate(); err != nil {
		if e.invalidKeys != InvalidKeyOverflow {
			return nil, false, err
		}
		e.warnInvalidKey(key, err)
		return e.pool.Overflow(), true, nil
	}
	w, overflow := e.pool.Get(key)
	return w, overflow, nil
}

func (e *Engine) resolve(w *keyWorker, overflow bool, src *controlplane.Snapshot) *keyPolicy {
	kp := &keyPolicy{from: src, worker: w, policy: e.defaults, origin: "default", classifier: classify.Default}
	if src != nil {
		kp.version = src.Version
		if overflow {
			kp.fallbacks = append(kp.fallbacks, fallback("key", "invalid key or too many keys: overflow worker, default policy"))
		} else if p, pattern, ok := src.Set.Resolve(w.Key()); ok {
			kp.policy, kp.pattern, kp.origin = p, pattern, string(src.Source)
		}
		if src.Source == controlplane.SourceFallback {
			kp.fallbacks = append(kp.fallbacks, fallback("policy", "provider has no policy in force: default policy"))
		}
	}
	p := &kp.policy
	if name := p.Classifier; name != "" {
		if c, ok := e.classifiers[name]; ok {
			kp.classifier = c
		} else {
			e.warnOnce("rego: policy names an unregistered classifier; using the default classifier", "classifier", name)
			kp.fallbacks = append(kp.fallbacks, fallback("classifier", "classifier "+name+" not registered: default classifier"))
		}
	}
	ownRetry, ownHedge := w.Budgets()
	kp.retryBudget, kp.retryName = e.budgetFor(p.RetryBudget, ownRetry, "retry", kp)
	kp.hedgeBudget, kp.hedgeName = e.budgetFor(p.HedgeBudget, ownHedge, "hedge", kp)
	if a, ok := kp.retryBudget.(budget.Admitter); ok && p.RetryBudget != "" {
		kp.admitter = a
	}
	kp.recordHedge = p.Hedge.MaxHedges > 0 && !budget.SharesDeposits(kp.retryBudget, kp.hedgeBudget)
	kp.breaker = e.breakerFor(w, overflow, p) // breaker hook: per key, kept while its config is unchanged
	if p.Hedge.MaxHedges > 0 {
		trigger := hedge.TriggerFor(p.Hedge)
		kp.delay = trigger.Delay(nil, e.clock.Now())
		kp.percentile, kp.learns = trigger.(hedge.Percentile)
	}
	return kp
}

// budgetFor resolves a policy's budget name: a registered shared budget, else
// (empty name) the key's own default, else the configured failure mode.
func (e *Engine) budgetFor(name string, own budget.Budget, kind string, kp *keyPolicy) (budget.Budget, string) {
	if name == "" {
		if own == nil {
			return unlimited{}, "none"
		}
		return own, "key-default-" + kind
	}
	if b, ok := e.budgets[name]; ok {
		return b, name
	}
	e.warnOnce("rego: policy names an unregistered budget", "budget", name, "mode", e.missing.String())
	kp.fallbacks = append(kp.fallbacks, fallback("budget", kind+" budget "+name+" not registered: "+e.missing.String()))
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
