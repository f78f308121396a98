package main

// The candidates rego sim tries and how it picks one.

import (
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/regoresilience/rego/policy"
)

// candidates returns the grid for tr. Delays come from tr's own latencies.
func candidates(tr *trace) []candidate {
	lat := tr.sortedLatencies()
	failures := tr.failures() > 0
	type hedgeChoice struct {
		name  string
		hedge policy.Hedge
	}
	hedges := []hedgeChoice{{"no hedge", policy.Hedge{}}}
	for _, n := range []int{1, 2} {
		for _, q := range []float64{90, 95, 99} {
			d := niceDuration(quantile(lat, q))
			hedges = append(hedges, hedgeChoice{fmt.Sprintf("hedge %s x%d", d, n), policy.Hedge{MaxHedges: n, Delay: d}})
		}
		for _, q := range []float64{90, 95, 99, 99.5} {
			hedges = append(hedges, hedgeChoice{fmt.Sprintf("hedge p%s x%d", strconv.FormatFloat(q, 'f', -1, 64), n),
				// Until the key has seen MinSamples attempts, the trace's own
				// percentile stands in for the learned one.
				policy.Hedge{MaxHedges: n, Percentile: q, Delay: niceDuration(quantile(lat, q))}})
		}
	}
	retries := []bool{true}
	if failures {
		retries = []bool{true, false}
	}
	backoff := max(niceDuration(quantile(lat, 50)), time.Millisecond)
	var out []candidate
	for _, retry := range retries {
		for _, h := range hedges {
			for _, budgets := range []bool{true, false} {
				if !budgets && h.hedge.MaxHedges == 0 && !(retry && failures) {
					continue // no retry or hedge to budget: the same as with budgets
				}
				p := policy.Policy{Hedge: h.hedge, Retry: policy.Retry{MaxAttempts: 1}}
				name := h.name
				if retry {
					p.Retry = policy.Retry{MaxAttempts: 3, InitialBackoff: backoff, MaxBackoff: 20 * backoff, Multiplier: 2}
					if failures {
						name += ", retry"
					}
				} else {
					name += ", no retry"
				}
				if !budgets {
					name += ", no budgets"
				}
				out = append(out, candidate{name: name, policy: p, budgets: budgets})
			}
		}
	}
	return out
}

// niceDuration rounds d to two significant digits (at least 1µs), so that
// the recommendation reads "12ms", not "12.3456ms".
func niceDuration(d time.Duration) time.Duration {
	if d <= time.Microsecond {
		return time.Microsecond
	}
	unit := time.Duration(math.Pow(10, math.Floor(math.Log10(float64(d)))-1))
	return (d + unit/2) / unit * unit
}

// recommend returns the index of the candidate to recommend: among those
// whose extra load is within maxLoad, on the trace and on the trace 10%
// slower (slowLoad: a fixed delay in the thick of the latency distribution
// turns a small slowdown into many more hedges), and whose errors are within
// 0.1% of the calls of the fewest, the lowest p99.9; candidates within 2% of that
// p99.9 count as equal, and the one with the least extra load wins (loads
// within 0.2 points or 10% of each other tie, and the lowest max latency
// wins; then the earliest in the grid: the simplest).
func recommend(rs []simResult, maxLoad float64) int {
	eligible := func(r simResult) bool {
		return r.extraLoad() <= maxLoad+1e-12 && r.slowLoad <= maxLoad+1e-12
	}
	minErr := math.MaxInt
	for _, r := range rs {
		if eligible(r) {
			minErr = min(minErr, r.errors)
		}
	}
	if minErr == math.MaxInt { // nothing within the load: the cheapest
		best := 0
		for i, r := range rs {
			if max(r.extraLoad(), r.slowLoad) < max(rs[best].extraLoad(), rs[best].slowLoad) {
				best = i
			}
		}
		return best
	}
	tol := max(1, rs[0].calls/1000)
	ok := func(r simResult) bool { return eligible(r) && r.errors <= minErr+tol }
	bestP := time.Duration(math.MaxInt64)
	for _, r := range rs {
		if ok(r) {
			bestP = min(bestP, r.p999)
		}
	}
	// Extra loads within 0.2 percentage points or 10% of each other are a
	// tie, and the lower max latency wins it.
	better := func(a, b simResult) bool {
		la, lb := a.extraLoad(), b.extraLoad()
		if math.Abs(la-lb) > max(0.002, 0.1*min(la, lb)) {
			return la < lb
		}
		return a.max < b.max
	}
	best := -1
	for i, r := range rs {
		if !ok(r) || float64(r.p999) > float64(bestP)*1.02 {
			continue
		}
		if best < 0 || better(r, rs[best]) {
			best = i
		}
	}
	return best
}
