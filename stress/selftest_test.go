package stress

import (
	"strings"
	"testing"
	"testing/synctest"
)

// TestChecksCatchViolations verifies that the checks are not vacuous: in a
// scenario whose op breaks a rule, they must report the invariant it breaks.
func TestChecksCatchViolations(t *testing.T) {
	for _, tc := range []struct {
		sabotage string
		want     []string // each must appear in some failure
	}{
		{sabotageIgnoreCtx, []string{"invariant 1: returned", "invariant 2: attempt ran until"}},
		{sabotageLinger, []string{"invariant 3"}},
		{sabotageFakeCallback, []string{"invariant 4: OnStart called 2 times"}},
		{sabotageStealPermit, []string{"invariant 6: concurrency budget not conserved"}},
	} {
		t.Run(tc.sabotage, func(t *testing.T) {
			pr := mixed
			pr.name, pr.callers, pr.calls, pr.sabotage = "sabotage-"+tc.sabotage, 8, 20, tc.sabotage
			pr.concProb = 1 // every key uses the concurrency budget
			var rep report
			synctest.Test(t, func(t *testing.T) { rep = runScenario(t, &pr, 1) })
			all := strings.Join(rep.failures, "\n")
			for _, w := range tc.want {
				if !strings.Contains(all, w) {
					t.Errorf("sabotage %s: no failure mentions %q; failures:\n%s", tc.sabotage, w, all)
				}
			}
		})
	}
}
