package stress

import (
	"fmt"
	"strings"
	"time"
)

// maxReported bounds the failing calls a scenario prints in full.
const maxReported = 5

// report is what a scenario's checks found. Failures fail the test; logs are
// informative (statistics).
type report struct {
	failures []string
	logs     []string
	desc     string // the scenario's configuration
}

func (r *report) fail(format string, args ...any) {
	r.failures = append(r.failures, fmt.Sprintf(format, args...))
}

func (r *report) log(format string, args ...any) {
	r.logs = append(r.logs, fmt.Sprintf(format, args...))
}

// verify runs the per-call checks and the scenario-wide ones, once every call
// and every op has returned.
func (w *world) verify() report {
	w.mu.Lock()
	calls, counted, closeAt := w.calls, w.counted, w.closeAt
	w.mu.Unlock()
	rep := report{desc: w.desc}

	var (
		failed, attempts, hedges, withCtx int
		outcomes                          = map[string]int{}
	)
	for _, c := range calls {
		_, invs := c.snapshot()
		attempts += len(invs)
		for _, inv := range invs {
			if inv.info.Hedge {
				hedges++
			}
		}
		switch ee := asError(c.err); {
		case c.panicked:
			outcomes["panic"]++
		case c.err == nil:
			outcomes["ok"]++
		case ee != nil:
			outcomes[ee.Reason]++
		default:
			outcomes[c.err.Error()]++
		}
		if c.ctxKind != ctxNone {
			withCtx++
		}
		real := w.checkCall(c, closeAt)
		if len(real) == 0 {
			continue
		}
		failed++
		if failed <= maxReported {
			var b strings.Builder
			fmt.Fprintf(&b, "seed %d: call %d broke %d checks:\n", w.seed, c.id, len(real))
			for _, p := range real {
				fmt.Fprintf(&b, "  - %s\n", p)
			}
			b.WriteString(c.report(closeAt))
			rep.fail("%s", b.String())
		}
	}
	if failed > maxReported {
		rep.fail("seed %d: %d more calls broke checks", w.seed, failed-maxReported)
	}

	// Attempts started == op invocations the calls recorded.
	if n := w.invoked.Load(); n != int64(attempts) {
		rep.fail("seed %d: %d op invocations, %d recorded by the calls", w.seed, n, attempts)
	}
	// Invariant 6: budgets conserve.
	if st := w.conc.Stats(); st.Acquired != st.Released || st.InFlight != 0 || st.Unmatched != 0 {
		rep.fail("seed %d: invariant 6: concurrency budget not conserved: %+v", w.seed, st)
	}
	for _, b := range counted {
		if a, r := b.acquired.Load(), b.released.Load(); a != r {
			rep.fail("seed %d: invariant 6: budget %s: %d permits granted, %d released", w.seed, b.name, a, r)
		}
	}
	// Invariant 4: every observer callback belonged to a call.
	w.obs.mu.Lock()
	for _, s := range w.obs.problems {
		rep.fail("seed %d: invariant 4: %s", w.seed, s)
	}
	w.obs.mu.Unlock()

	if *flagVerbose {
		rep.log("seed %d: %d calls (%d with a deadline or cancel), %d attempts (%d hedges), outcomes %v, concurrency budget %+v",
			w.seed, len(calls), withCtx, attempts, hedges, outcomes, w.conc.Stats())
	}
	return rep
}

// report renders a call for a failure message.
func (c *callRec) report(closeAt time.Time) string {
	var b strings.Builder
	cancelAt, invs := c.snapshot()
	fmt.Fprintf(&b, "call %d: %s %s, ctx %s, started %v after the bubble's epoch\n", c.id, flavorNames[c.flavor], c.spec.key,
		ctxNames[c.ctxKind], c.start.Sub(c.w.epoch))
	fmt.Fprintf(&b, "  policy %+v\n", c.spec.pol)
	fmt.Fprintf(&b, "  ctx deadline %s, call deadline %s, cancel at %s, close at %s, returned %s\n",
		c.rel(c.ctxDeadline), c.rel(c.deadline), c.rel(cancelAt), c.rel(closeAt), c.rel(c.returnAt))
	for _, inv := range invs {
		fmt.Fprintf(&b, "  op #%d hedge=%v start %s end %s deadline %s planned %s wait %v interrupted %v panicked %v err %v\n",
			inv.info.Index, inv.info.Hedge, c.rel(inv.start), c.rel(inv.end), c.rel(inv.ctxDeadline),
			outcomeNames[inv.planned], inv.wait, inv.interrupted, inv.panicked, inv.err)
	}
	fmt.Fprintf(&b, "  err %v panicked %v (%v)\n", c.err, c.panicked, c.panicVal)
	if oc, ok := c.w.obs.lookup(c.id); ok {
		oc.mu.Lock()
		tl := oc.tl
		oc.mu.Unlock()
		if tl != nil {
			for _, line := range strings.Split(strings.TrimRight(tl.String(), "\n"), "\n") {
				b.WriteString("  | " + line + "\n")
			}
		}
	}
	return b.String()
}
