package budget

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

// statsBudget is what the real kinds and their references have in common.
type statsBudget[S comparable] interface {
	Budget
	Stats() S
}

// tally counts the decisions of one differential run, so a test can insist
// that the schedule exercised both answers.
type tally struct{ granted, denied int }

// runDifferential drives real and ref through the same random schedule of
// n operations on the same fake clock and fails at the first decision or
// Stats value on which they disagree. width is the bucket width, to scale
// clock steps (0 for kinds without a clock).
func runDifferential[S comparable](t *testing.T, rng *rand.Rand, clk *fakeClock, width time.Duration,
	real, ref statsBudget[S], n int) tally {
	t.Helper()
	if width == 0 {
		width = time.Second
	}
	realAdm, _ := real.(Admitter)
	refAdm, _ := ref.(Admitter)
	realAdmAt, _ := real.(interface{ AdmitAt(time.Time) bool })
	// Half the time, the real budget is driven through its Timed twins.
	timed, _ := real.(Timed)
	useAt := func() bool { return timed != nil && rng.IntN(2) == 0 }
	var tl tally
	for step := range n {
		at := func(op string) string { return fmt.Sprintf("step %d (%s, clock +%v)", step, op, clk.Offset()) }
		switch x := rng.Float64(); {
		case x < 0.25:
			first, ok := rng.IntN(2) == 0, rng.IntN(3) == 0
			if useAt() {
				timed.RecordAt(clk.Now(), first, ok)
			} else {
				real.Record(first, ok)
			}
			ref.Record(first, ok)
		case x < 0.50:
			var got bool
			if useAt() {
				got = timed.TryAcquireAt(clk.Now())
			} else {
				got = real.TryAcquire()
			}
			if want := ref.TryAcquire(); got != want {
				t.Fatalf("%s: TryAcquire = %v, reference says %v\nreal: %+v\nref:  %+v", at("TryAcquire"), got, want, real.Stats(), ref.Stats())
			}
			if got {
				tl.granted++
			} else {
				tl.denied++
			}
		case x < 0.60:
			real.Release()
			ref.Release()
		case x < 0.65:
			if realAdm != nil {
				var got bool
				if realAdmAt != nil && rng.IntN(2) == 0 {
					got = realAdmAt.AdmitAt(clk.Now())
				} else {
					got = realAdm.Admit()
				}
				if want := refAdm.Admit(); got != want {
					t.Fatalf("%s: Admit = %v, reference says %v", at("Admit"), got, want)
				}
			}
		case x < 0.88:
			clk.Advance(time.Duration(rng.Int64N(int64(2 * width))))
		case x < 0.91:
			clk.Advance(time.Duration(rng.Int64N(int64(30 * width)))) // past the whole window
		case x < 0.93:
			clk.Advance(-time.Duration(rng.Int64N(int64(5 * width)))) // the clock steps back
		case x < 0.935:
			clk.Advance(time.Duration(rng.Int64N(int64(width))) / 7) // land off bucket boundaries
		default:
			if got, want := real.Stats(), ref.Stats(); got != want {
				t.Fatalf("%s: Stats = %+v\nreference says %+v", at("Stats"), got, want)
			}
		}
	}
	if got, want := real.Stats(), ref.Stats(); got != want {
		t.Fatalf("final Stats = %+v\nreference says %+v", got, want)
	}
	return tl
}

const (
	diffSeeds = 40
	diffSteps = 4000
)

func pick[T any](rng *rand.Rand, xs ...T) T { return xs[rng.IntN(len(xs))] }

// checkTally fails unless the runs, together, both granted and denied.
func checkTally(t *testing.T, total tally) {
	t.Helper()
	t.Logf("granted %d, denied %d", total.granted, total.denied)
	if total.granted == 0 || total.denied == 0 {
		t.Errorf("schedule too tame: granted %d, denied %d", total.granted, total.denied)
	}
}

// TestRatioMatchesReference verifies that Ratio makes the same decisions and
// reports the same Stats as a mutex-and-event-list Ratio on random schedules.
func TestRatioMatchesReference(t *testing.T) {
	var total tally
	for seed := range uint64(diffSeeds) {
		rng := rand.New(rand.NewPCG(seed, 1))
		clk := new(fakeClock)
		clk.Set(time.Duration(rng.Int64N(int64(time.Hour))))
		c := RatioConfig{
			Percent:      pick(rng, 0, 1, 10, 33.3, 100, 250),
			MinPerSecond: pick(rng, 0, 0.1, 1, 10),
			Window:       pick(rng, 10*time.Millisecond, 1*time.Second, 10*time.Second, 2*time.Minute),
			Now:          clk.Now,
		}
		if seed%2 == 1 { // the same clock through the nanosecond fast path
			c.UnixNanos = func() int64 { return clk.Now().UnixNano() }
		}
		real, err := NewRatio(c)
		if err != nil {
			t.Fatal(err)
		}
		t.Run(fmt.Sprintf("seed=%d/%+v", seed, RatioConfig{Percent: c.Percent, MinPerSecond: c.MinPerSecond, Window: c.Window}), func(t *testing.T) {
			tl := runDifferential(t, rng, clk, c.Window/10, statsBudget[RatioStats](real), newRefRatio(c), diffSteps)
			total.granted += tl.granted
			total.denied += tl.denied
		})
	}
	checkTally(t, total)
}

// TestTokenBucketMatchesReference verifies TokenBucket against a mutex
// reference on random schedules.
func TestTokenBucketMatchesReference(t *testing.T) {
	var total tally
	for seed := range uint64(diffSeeds) {
		rng := rand.New(rand.NewPCG(seed, 2))
		c := TokenBucketConfig{
			MaxTokens:  pick(rng, 0.001, 1, 3, 10, 10.5, 100),
			TokenRatio: pick(rng, 0.001, 0.1, 0.5, 1, 2.337),
		}
		real, err := NewTokenBucket(c)
		if err != nil {
			t.Fatal(err)
		}
		t.Run(fmt.Sprintf("seed=%d/%+v", seed, c), func(t *testing.T) {
			tl := runDifferential(t, rng, new(fakeClock), 0, statsBudget[TokenBucketStats](real), newRefTokenBucket(c), diffSteps)
			total.granted += tl.granted
			total.denied += tl.denied
		})
	}
	checkTally(t, total)
}

// TestConcurrencyMatchesReference verifies Concurrency, unmatched Releases
// included, against a mutex reference on random schedules.
func TestConcurrencyMatchesReference(t *testing.T) {
	var total tally
	for seed := range uint64(diffSeeds) {
		rng := rand.New(rand.NewPCG(seed, 3))
		c := ConcurrencyConfig{Max: pick(rng, 1, 2, 3, 8)}
		real, err := NewConcurrency(c)
		if err != nil {
			t.Fatal(err)
		}
		t.Run(fmt.Sprintf("seed=%d/%+v", seed, c), func(t *testing.T) {
			tl := runDifferential(t, rng, new(fakeClock), 0, statsBudget[ConcurrencyStats](real), newRefConcurrency(c), diffSteps)
			total.granted += tl.granted
			total.denied += tl.denied
		})
	}
	checkTally(t, total)
}

// TestAdaptiveMatchesReference verifies Adaptive, Admit included, against a
// mutex reference fed the same random numbers on random schedules.
func TestAdaptiveMatchesReference(t *testing.T) {
	var total tally
	for seed := range uint64(diffSeeds) {
		rng := rand.New(rand.NewPCG(seed, 4))
		clk := new(fakeClock)
		clk.Set(time.Duration(rng.Int64N(int64(time.Hour))))
		c := AdaptiveConfig{
			K:      pick(rng, 0, 1, 1.5, 2, 3),
			Window: pick(rng, 0, 10*time.Millisecond, time.Second, 2*time.Minute),
			Now:    clk.Now,
		}
		if seed%2 == 1 { // the same clock through the nanosecond fast path
			c.UnixNanos = func() int64 { return clk.Now().UnixNano() }
		}
		rc := c
		c.Rand = rand.New(rand.NewPCG(seed, 5)).Float64
		rc.Rand = rand.New(rand.NewPCG(seed, 5)).Float64
		real, err := NewAdaptive(c)
		if err != nil {
			t.Fatal(err)
		}
		width := c.Window / 10
		if width == 0 {
			width = DefaultAdaptiveWindow / 10
		}
		t.Run(fmt.Sprintf("seed=%d/K=%v,Window=%v", seed, c.K, c.Window), func(t *testing.T) {
			tl := runDifferential(t, rng, clk, width, statsBudget[AdaptiveStats](real), newRefAdaptive(rc), diffSteps)
			total.granted += tl.granted
			total.denied += tl.denied
		})
	}
	checkTally(t, total)
}
