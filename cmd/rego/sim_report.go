package main

// rego sim's output: the table, the chart and the policy document.

import (
	"fmt"
	"io"
	"slices"
	"text/tabwriter"
	"time"

	"github.com/regoresilience/rego/policy"
)

// chart is the latency CDF of each key's first candidate (no hedge) and its
// recommendation.
func (r *simReport) chart() cdfChart {
	c := cdfChart{title: "rego sim: " + r.name}
	for _, k := range r.keys {
		prefix := ""
		if len(r.keys) > 1 {
			prefix = k.pattern + ": "
		}
		c.series = append(c.series, cdfSeries{prefix + k.results[0].cand.name, k.results[0].lat})
		if k.best != 0 {
			c.series = append(c.series, cdfSeries{prefix + k.results[k.best].cand.name + " (recommended)", k.results[k.best].lat})
		}
	}
	return c
}

// document renders the recommendation of every key as one policy document.
func (r *simReport) document() ([]byte, error) {
	m := make(map[string]policy.Policy, len(r.keys))
	for _, k := range r.keys {
		m[k.pattern] = k.results[k.best].cand.policy
	}
	set, err := policy.NewSet(m)
	if err != nil {
		return nil, err
	}
	return policy.MarshalDocument(set)
}

func (r *simReport) write(w io.Writer) {
	c := r.cfg
	calls, cands := 0, 0
	for _, k := range r.keys {
		calls += len(k.trace.samples)
		cands += len(k.results)
	}
	fmt.Fprintf(w, "rego sim: %s: %d calls, %d key(s); %d in flight; extra load at most %s\n",
		r.name, calls, len(r.keys), c.concurrency, percent(c.maxLoad))
	fmt.Fprintf(w, "replayed %d candidates through the engine on virtual time in %s", cands, r.wall.Round(time.Millisecond))
	if r.interrupted {
		fmt.Fprint(w, " (interrupted: what was measured so far)")
	}
	fmt.Fprintln(w)
	noBudgets := false
	for _, k := range r.keys {
		lat := k.trace.sortedLatencies()
		fmt.Fprintf(w, "\n%s: trace p50 %s  p99 %s  p99.9 %s  max %s  failed %s; each candidate took %s of virtual time (no hedge)\n\n",
			k.pattern, ms(quantile(lat, 50)), ms(quantile(lat, 99)), ms(quantile(lat, 99.9)), ms(lat[len(lat)-1]),
			percent(float64(k.trace.failures())/float64(len(lat))), k.results[0].virtual.Round(time.Millisecond))
		order := make([]int, len(k.results))
		for i := range order {
			order[i] = i
		}
		slices.SortStableFunc(order, func(a, b int) int {
			return int(k.results[a].p999 - k.results[b].p999)
		})
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "candidate\tp50\tp99\tp99.9\tmax\textra load\t10% slower\terrors\t")
		for _, i := range order {
			res := k.results[i]
			mark := ""
			switch {
			case i == k.best:
				mark = "<- recommended"
			case res.extraLoad() > c.maxLoad+1e-12:
				mark = "over -max-load"
			case res.slowLoad > c.maxLoad+1e-12:
				mark = "over -max-load when 10% slower"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\n", res.cand.name, ms(res.p50), ms(res.p99), ms(res.p999),
				ms(res.max), percent(res.extraLoad()), percent(res.slowLoad), res.errors, mark)
		}
		tw.Flush()
		best, base := k.results[k.best], k.results[0]
		fmt.Fprintf(w, "\nrecommended for %s: %s: p99.9 %s (no hedge: %s), extra load %s\n",
			k.pattern, best.cand.name, ms(best.p999), ms(base.p999), percent(best.extraLoad()))
		noBudgets = noBudgets || !best.cand.budgets
	}
	fmt.Fprintln(w, "\nRecommended policy document (rego policy check accepts it):")
	if noBudgets {
		fmt.Fprintln(w, "(a recommendation without budgets needs engine.WithKeyBudgets(nil, nil) in your program;\n"+
			" the document cannot say it, and the budgets are what stops a retry storm)")
	}
	fmt.Fprintln(w)
	w.Write(r.doc)
}
