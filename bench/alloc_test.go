package bench

import (
	"testing"

	"github.com/regoresilience/rego/engine"
)

// Targets of rego's hot paths. They are part of rego's contract with its
// users: a retry policy on every call must be close to free.
const (
	maxAllocsSuccess = 1 // the attempt context
	maxAllocsHedge   = 3 // the hedge group (which embeds the primary's context), and slack
	allocRuns        = 1000
)

// TestSuccessPathAllocs verifies that a call whose first attempt succeeds
// allocates at most maxAllocsSuccess objects, through Do and through DoValue.
func TestSuccessPathAllocs(t *testing.T) {
	skipUnderRace(t)
	e := newRego(t, successPolicy)
	var err error
	if n := testing.AllocsPerRun(allocRuns, func() { err = e.Do(ctx, hotKey, okCtx) }); n > maxAllocsSuccess {
		t.Errorf("Do: %v allocs per call, want <= %d", n, maxAllocsSuccess)
	}
	if err != nil {
		t.Fatal(err)
	}
	var v int
	if n := testing.AllocsPerRun(allocRuns, func() { v, err = engine.DoValue(e, ctx, hotKey, okValue) }); n > maxAllocsSuccess {
		t.Errorf("DoValue: %v allocs per call, want <= %d", n, maxAllocsSuccess)
	}
	if err != nil || v != valueResult {
		t.Fatalf("DoValue = %v, %v; want %d, nil", v, err, valueResult)
	}
}

// TestHedgeArmedAllocs verifies that a call with a hedge armed but not fired
// allocates at most maxAllocsHedge objects and starts no goroutine.
func TestHedgeArmedAllocs(t *testing.T) {
	skipUnderRace(t)
	e := newRego(t, hedgePolicy)
	var err error
	g0 := goroutinesCreated()
	if n := testing.AllocsPerRun(allocRuns, func() { err = e.Do(ctx, hotKey, okCtx) }); n > maxAllocsHedge {
		t.Errorf("%v allocs per call, want <= %d", n, maxAllocsHedge)
	}
	if err != nil {
		t.Fatal(err)
	}
	if g := goroutinesCreated() - g0; g != 0 {
		t.Errorf("%d goroutines created by %d calls, want 0", g, allocRuns+1)
	}
}

// TestImplsSucceed verifies that every implementation of every benchmark case
// is configured to succeed, and that the retry case's ops really retry: each
// call sees one failure and one success.
func TestImplsSucceed(t *testing.T) {
	cases := map[string][]impl{"success": successImpls, "hedge": hedgeImpls, "retry": retryImpls, "value": valueImpls}
	for name, impls := range cases {
		for _, im := range impls {
			t.Run(name+"/"+im.name, func(t *testing.T) {
				call := im.setup(t)
				for range 3 {
					if err := call(); err != nil {
						t.Fatal(err)
					}
				}
			})
		}
	}
}

func skipUnderRace(t *testing.T) {
	t.Helper()
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under the race detector")
	}
}
