package engine

import (
	"context"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/regoresilience/rego/budget"
	"github.com/regoresilience/rego/internal/nohedge"
)

// TestNoHedgeMark verifies that a call whose context carries nohedge's mark
// launches no hedge, whatever its policy, and asks the hedge budget for
// nothing; the same call unmarked is hedged.
func TestNoHedgeMark(t *testing.T) {
	for _, marked := range []bool{true, false} {
		synctest.Test(t, func(t *testing.T) {
			lim, err := budget.NewConcurrency(budget.ConcurrencyConfig{Max: 5})
			if err != nil {
				t.Fatal(err)
			}
			p := hedged(2, 10*time.Millisecond)
			p.HedgeBudget = "hedges"
			e := newEngine(t, withPolicy(p), WithBudget("hedges", lim))
			var calls atomic.Int64
			op := func(ctx context.Context) error {
				calls.Add(1)
				return wait(ctx, 100*time.Millisecond)
			}
			ctx := context.Background()
			if marked {
				ctx = nohedge.With(ctx)
			}
			tl, err := e.DoWithTimeline(ctx, key, op)
			if err != nil {
				t.Fatalf("marked=%v: %v", marked, err)
			}
			synctest.Wait()
			want := map[bool]int64{true: 1, false: 3}[marked]
			if calls.Load() != want || tl.Hedged() == marked || lim.Stats().Acquired != uint64(want-1) {
				t.Errorf("marked=%v: %d calls, hedged %v, %d permits; want %d calls\n%v",
					marked, calls.Load(), tl.Hedged(), lim.Stats().Acquired, want, tl)
			}
		})
	}
}
