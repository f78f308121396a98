package stress

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/regoresilience/rego/budget"
	"github.com/regoresilience/rego/controlplane"
	"github.com/regoresilience/rego/engine"
	"github.com/regoresilience/rego/policy"
)

// weights picks an index with probability proportional to its entry.
type weights []int

func (w weights) pick(rng *rand.Rand) int {
	total := 0
	for _, x := range w {
		total += x
	}
	n := rng.IntN(total)
	for i, x := range w {
		if n < x {
			return i
		}
		n -= x
	}
	return len(w) - 1
}

// Caller context kinds (indexes into profile.ctx).
const (
	ctxNone      = iota // context.Background
	ctxTimeout          // context.WithTimeout
	ctxCancel           // context.WithCancel, cancelled by a timer goroutine
	ctxPreCancel        // cancelled before the call starts
)

var ctxNames = [...]string{"background", "with-timeout", "with-cancel", "cancelled-before"}

// Op outcomes (indexes into profile.outcomes).
const (
	outSuccess    = iota
	outRetryable  // a plain error: the default classifier retries it
	outPermanent  // classify.Permanent: the call aborts
	outRetryAfter // classify.RetryAfter: pushback before the next attempt
	outPanic      // the op panics; the engine re-raises it in the caller
)

var outcomeNames = [...]string{"success", "retryable", "permanent", "retry_after", "panic"}

// Call shapes.
const (
	flavorDo = iota
	flavorDoWithTimeline
	flavorDoValue
	flavorDoValueWithTimeline
)

var (
	flavorNames   = [...]string{"Do", "DoWithTimeline", "DoValue", "DoValueWithTimeline"}
	flavorWeights = weights{4, 2, 2, 2}
)

// profile shapes a scenario: how many callers, how keys are configured and
// what ops and callers do. Every random choice is drawn from the scenario's
// seed.
type profile struct {
	name      string
	callers   int     // goroutines issuing calls
	calls     int     // calls per caller (times -stress.scale)
	keys      int     // keys with a policy of their own (one more key runs the default policy)
	hedgeProb float64 // probability that a key hedges
	concProb  float64 // probability that a key names the shared concurrency budget for retries and hedges
	ctx       weights // indexed by ctxNone...
	outcomes  weights // indexed by outSuccess...
	slowProb  float64 // probability that an attempt takes tens to hundreds of ms
	think     time.Duration
	// closeAt > 0 closes the engine at a random time in [closeAt/2, closeAt]
	// while calls run.
	closeAt time.Duration
	// sabotage makes the op break a rule, to check that the checks notice
	// (TestChecksCatchViolations); "" in every real profile.
	sabotage string
}

// Sabotages (see profile.sabotage).
const (
	sabotageIgnoreCtx    = "ignore-ctx"    // the op sleeps its time whatever its ctx says
	sabotageLinger       = "linger"        // the op leaves work running after it returns
	sabotageFakeCallback = "fake-callback" // the op calls the observer's OnStart again
	sabotageStealPermit  = "steal-permit"  // the op takes a concurrency permit and never releases it
)

func randDur(rng *rand.Rand, lo, hi time.Duration) time.Duration {
	if hi <= lo {
		return lo
	}
	return lo + time.Duration(rng.Int64N(int64(hi-lo)))
}

// budget names the policies may use.
const (
	budgetConc    = "conc"    // *budget.Concurrency, registered as is
	budgetRatio   = "ratio"   // *budget.Ratio behind a countedBudget
	budgetBucket  = "bucket"  // *budget.TokenBucket behind a countedBudget
	budgetMissing = "missing" // never registered: the engine's failure mode applies
)

var budgetNames = []string{"", "", "", budgetConc, budgetRatio, budgetBucket, budgetMissing}

// randomPolicy draws one key's policy.
func randomPolicy(rng *rand.Rand, pr *profile) policy.Policy {
	var p policy.Policy
	p.Retry.MaxAttempts = 1 + rng.IntN(5)
	p.Retry.InitialBackoff = randDur(rng, 100*time.Microsecond, 20*time.Millisecond)
	p.Retry.MaxBackoff = p.Retry.InitialBackoff * time.Duration(1+rng.IntN(10))
	p.Retry.Multiplier = 1 + 2*rng.Float64()
	p.Retry.Jitter = policy.Jitter(rng.IntN(4))
	if rng.IntN(2) == 0 {
		p.Retry.AttemptTimeout = randDur(rng, 2*time.Millisecond, 100*time.Millisecond)
	}
	if rng.IntN(2) == 0 {
		p.Timeout = randDur(rng, 10*time.Millisecond, 400*time.Millisecond)
	}
	if rng.IntN(3) == 0 {
		p.Retry.MaxRetryAfter = randDur(rng, time.Millisecond, 50*time.Millisecond)
	}
	if rng.Float64() < pr.hedgeProb {
		p.Hedge.MaxHedges = rng.IntN(4) // 0 is "no hedging" even in a hedged profile
		p.Hedge.Delay = randDur(rng, 500*time.Microsecond, 30*time.Millisecond)
		if rng.IntN(3) == 0 {
			p.Hedge.Percentile = 50 + 49*rng.Float64()
			p.Hedge.MinSamples = 5 + rng.IntN(50)
			if rng.IntN(2) == 0 {
				p.Hedge.MinDelay = randDur(rng, 0, 5*time.Millisecond)
				p.Hedge.MaxDelay = p.Hedge.MinDelay + randDur(rng, time.Millisecond, 50*time.Millisecond)
			}
		}
	}
	if rng.Float64() < pr.concProb {
		p.RetryBudget, p.HedgeBudget = budgetConc, budgetConc
	} else {
		p.RetryBudget = budgetNames[rng.IntN(len(budgetNames))]
		p.HedgeBudget = budgetNames[rng.IntN(len(budgetNames))]
	}
	return p
}

// keySpec is one key of a scenario and the policy the engine must apply to it.
type keySpec struct {
	key     policy.Key
	pattern string        // the provider pattern expected on the timeline ("" = engine default)
	pol     policy.Policy // normalized: what the engine runs
}

// countedBudget wraps a budget and counts granted permits and releases, so that
// conservation (one Release per granted TryAcquire) can be checked for every
// kind, not only for concurrency limits.
type countedBudget struct {
	name     string
	inner    budget.Budget
	acquired atomic.Int64
	released atomic.Int64
}

func (b *countedBudget) TryAcquire() bool {
	ok := b.inner.TryAcquire()
	if ok {
		b.acquired.Add(1)
	}
	return ok
}

func (b *countedBudget) Release()              { b.released.Add(1); b.inner.Release() }
func (b *countedBudget) Record(first, ok bool) { b.inner.Record(first, ok) }

// world is one scenario: an engine, its keys and budgets, the checking
// observer, and every call made. Fields are set up before the callers start
// and read-only after, except those that say otherwise.
type world struct {
	seed uint64
	pr   *profile
	tick time.Duration
	eng  *engine.Engine
	keys []keySpec
	conc *budget.Concurrency
	obs  *checkObserver
	// observed: the engine has the checking observer. A third of the worlds
	// run without it, because without an observer (and without a timeline)
	// calls take the engine's fast paths, which are what most production
	// calls run; their timelines then go unchecked.
	observed bool
	desc     string        // the configuration, for failure reports
	end      chan struct{} // closed when the scenario is over (ends sabotageLinger's work)
	epoch    time.Time     // when the scenario began

	running atomic.Int64 // op invocations that have not returned yet
	invoked atomic.Int64 // op invocations, total

	mu      sync.Mutex       // guards the fields below
	counted []*countedBudget // every counted budget ever created (key budgets included)
	calls   []*callRec
	closeAt time.Time // when the engine was closed (zero = not during the calls)
}

func (w *world) addCounted(name string, b budget.Budget) *countedBudget {
	cb := &countedBudget{name: name, inner: b}
	w.mu.Lock()
	w.counted = append(w.counted, cb)
	w.mu.Unlock()
	return cb
}

// newWorld builds a scenario's engine from seed. It must run inside the
// scenario's synctest bubble: the engine's goroutines belong to it.
func newWorld(t *testing.T, pr *profile, seed uint64) *world {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	w := &world{seed: seed, pr: pr, obs: newCheckObserver(), end: make(chan struct{}), epoch: time.Now()}
	w.tick = []time.Duration{250 * time.Microsecond, time.Millisecond, 2 * time.Millisecond}[rng.IntN(3)]
	// A generator of its own, so that the other choices of a seed stay what
	// they were before worlds could go unobserved.
	w.observed = pr.sabotage == sabotageFakeCallback || rand.New(rand.NewPCG(seed, 0x0b5e)).IntN(3) != 0
	var desc strings.Builder
	fmt.Fprintf(&desc, "profile %s seed %d tick %v observed %v\n", pr.name, seed, w.tick, w.observed)

	var err error
	w.conc, err = budget.NewConcurrency(budget.ConcurrencyConfig{Max: 1 + rng.IntN(8)})
	if err != nil {
		t.Fatal(err)
	}
	ratio, err := budget.NewRatio(budget.RatioConfig{Percent: float64(rng.IntN(50)), MinPerSecond: float64(1 + rng.IntN(100)), Window: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	bucket, err := budget.NewTokenBucket(budget.TokenBucketConfig{MaxTokens: float64(2 + rng.IntN(20)), TokenRatio: 0.1 + rng.Float64()})
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(&desc, "budgets: conc max %d\n", w.conc.Stats().Max)

	policies := map[string]policy.Policy{}
	for i := range pr.keys {
		k := policy.Key{Namespace: fmt.Sprintf("svc%d", i), Name: "Op"}
		p := randomPolicy(rng, pr)
		if err := p.Validate(); err != nil {
			t.Fatalf("seed %d: generated an invalid policy for %s: %v", seed, k, err)
		}
		policies[k.String()] = p
		w.keys = append(w.keys, keySpec{key: k, pattern: k.String(), pol: p.Normalize()})
		fmt.Fprintf(&desc, "key %s: %+v\n", k, p)
	}
	def := randomPolicy(rng, pr)
	w.keys = append(w.keys, keySpec{key: policy.Key{Namespace: "unmapped", Name: "Op"}, pol: def.Normalize()})
	fmt.Fprintf(&desc, "default policy: %+v\n", def)

	opts := []engine.Option{
		engine.WithProvider(controlplane.NewStatic(policies)),
		engine.WithDefaultPolicy(def),
		engine.WithSchedulerTick(w.tick),
		engine.WithIdleTimeout(randDur(rng, 20*time.Millisecond, 2*time.Second)),
		engine.WithBudget(budgetConc, w.conc),
		engine.WithBudget(budgetRatio, w.addCounted(budgetRatio, ratio)),
		engine.WithBudget(budgetBucket, w.addCounted(budgetBucket, bucket)),
	}
	if w.observed {
		opts = append(opts, engine.WithObserver(w.obs))
	}
	if rng.IntN(4) == 0 {
		opts = append(opts, engine.WithMissingBudget(engine.FailClosed))
		desc.WriteString("missing budgets fail closed\n")
	}
	switch rng.IntN(3) {
	case 0: // the engine's own defaults, uncounted
		desc.WriteString("key budgets: engine defaults\n")
	case 1:
		desc.WriteString("key budgets: counted defaults\n")
		opts = append(opts, engine.WithKeyBudgets(
			func() budget.Budget { return w.addCounted("key-retry", budget.DefaultRetry(nil)) },
			func() budget.Budget { return w.addCounted("key-hedge", budget.DefaultHedge(nil)) }))
	case 2:
		desc.WriteString("key budgets: none (unlimited)\n")
		opts = append(opts, engine.WithKeyBudgets(nil, nil))
	}
	w.desc = desc.String()
	w.eng, err = engine.New(opts...)
	if err != nil {
		t.Fatalf("seed %d: engine.New: %v\n%s", seed, err, w.desc)
	}
	return w
}
