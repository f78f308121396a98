package stress

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// The profiles. Sizes are chosen so that each test runs in about a second
// under -race with the default -stress.iterations; virtual time makes the
// hundreds of milliseconds of backoffs, timeouts and hedge delays free.
var (
	mixed = profile{
		name: "mixed", callers: 16, calls: 60, keys: 5,
		hedgeProb: 0.5, concProb: 0.3,
		ctx:      weights{40, 25, 25, 2},
		outcomes: weights{550, 300, 50, 97, 3},
		slowProb: 0.15, think: 5 * time.Millisecond,
	}
	cancelHeavy = profile{
		name: "cancel", callers: 16, calls: 60, keys: 4,
		hedgeProb: 0.5, concProb: 0.3,
		ctx:      weights{5, 40, 50, 5},
		outcomes: weights{300, 550, 30, 117, 3},
		slowProb: 0.4, think: 3 * time.Millisecond,
	}
	hedgeHeavy = profile{
		name: "hedge", callers: 16, calls: 60, keys: 4,
		hedgeProb: 1, concProb: 0.5,
		ctx:      weights{40, 30, 30, 0},
		outcomes: weights{500, 400, 30, 67, 3},
		slowProb: 0.35, think: 3 * time.Millisecond,
	}
	sharedBudget = profile{
		name: "shared", callers: 24, calls: 40, keys: 3,
		hedgeProb: 0.7, concProb: 1,
		ctx:      weights{40, 30, 30, 0},
		outcomes: weights{400, 500, 20, 80, 0},
		slowProb: 0.3, think: 2 * time.Millisecond,
	}
	closing = profile{
		name: "close", callers: 16, calls: 60, keys: 4,
		hedgeProb: 0.5, concProb: 0.3,
		ctx:      weights{40, 25, 25, 2},
		outcomes: weights{500, 350, 40, 107, 3},
		slowProb: 0.2, think: 4 * time.Millisecond,
		closeAt: 1200 * time.Millisecond,
	}
)

// TestStressMixed verifies the invariants under a mix of everything: random
// policies, outcomes, latencies, caller contexts and panics.
func TestStressMixed(t *testing.T) { runProfile(t, mixed) }

// TestStressCancel verifies invariants 1 and 2 when most calls are cancelled or
// time out while attempts, backoffs and hedges are in progress.
func TestStressCancel(t *testing.T) { runProfile(t, cancelHeavy) }

// TestStressHedge verifies hedged rounds: concurrent attempts, losers cancelled
// and recorded, hedge budgets conserved.
func TestStressHedge(t *testing.T) { runProfile(t, hedgeHeavy) }

// TestStressSharedBudget verifies invariant 6 when every key draws its retries
// and hedges from one small concurrency budget.
func TestStressSharedBudget(t *testing.T) { runProfile(t, sharedBudget) }

// TestStressClose verifies that closing the engine while calls run ends them
// cleanly: later calls fail with ErrClosed, nothing leaks, budgets conserve.
func TestStressClose(t *testing.T) { runProfile(t, closing) }

// runProfile runs -stress.iterations seeded scenarios of pr, each in its own
// synctest bubble, and reports what their checks found.
func runProfile(t *testing.T, pr profile) {
	base := *flagSeed
	if base == 0 {
		base = 1
	}
	for i := range *flagIterations {
		seed := base + uint64(i)
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			var rep report
			synctest.Test(t, func(t *testing.T) { rep = runScenario(t, &pr, seed) })
			for _, s := range rep.logs {
				t.Log(s)
			}
			for _, s := range rep.failures {
				t.Error(s)
			}
			if t.Failed() {
				t.Logf("configuration:\n%s", rep.desc)
				t.Logf("reproduce: go test -race ./stress -run '^%s$' -stress.seed=%d -stress.iterations=1", t.Name(), seed)
			}
		})
	}
}

// runScenario builds an engine from seed, lets the callers loose, waits for
// every call and every goroutine they started, checks the invariants and
// closes the engine. It runs inside the scenario's bubble.
func runScenario(t *testing.T, pr *profile, seed uint64) report {
	w := newWorld(t, pr, seed)
	rng := rand.New(rand.NewPCG(seed, 1))
	calls := max(1, int(float64(pr.calls)**flagScale))
	var (
		wg  sync.WaitGroup
		ids atomic.Uint64
	)
	for g := range pr.callers {
		crng := rand.New(rand.NewPCG(seed, uint64(100+g)))
		wg.Go(func() { w.caller(crng, calls, &ids) })
	}
	if pr.closeAt > 0 {
		after := randDur(rng, pr.closeAt/2, pr.closeAt)
		wg.Go(func() {
			time.Sleep(after)
			w.mu.Lock()
			w.closeAt = time.Now()
			w.mu.Unlock()
			w.eng.Close()
		})
	}
	began := time.Now()
	wg.Wait()
	elapsed := time.Since(began)
	// Invariant 3: once every call has returned, every op has returned too (the
	// losers of hedge races end on their own, at once, since they honour ctx).
	synctest.Wait()
	lingering := w.running.Load()
	rep := w.verify()
	if *flagVerbose {
		rep.log("seed %d: the calls took %v of virtual time", seed, elapsed)
	}
	if lingering != 0 {
		rep.fail("seed %d: invariant 3: %d ops still running after every call returned", seed, lingering)
	}
	w.eng.Close()
	synctest.Wait()
	if n := w.running.Load(); n != 0 {
		rep.fail("seed %d: invariant 3: %d ops still running after Close", seed, n)
	}
	close(w.end)
	return rep
}
