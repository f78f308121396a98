package main

// The demo's results: one row per policy and the printed report.

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/regoresilience/rego/observe"
)

// policyRow is one policy's results.
type policyRow struct {
	name             string
	calls, ok        int
	attempts, hedges int
	denied           int // calls in which a budget refused a retry or a hedge
	p50, p99, p999   time.Duration
	lat              []time.Duration   // every call's latency, sorted: the chart's data
	example          *observe.Timeline // the first call that succeeded after a retry
	hedgeWin         *observe.Timeline // the last call a hedge won against a slower attempt
}

func (r policyRow) successRate() float64 {
	if r.calls == 0 {
		return 0
	}
	return float64(r.ok) / float64(r.calls)
}

func (r policyRow) attemptsPerCall() float64 {
	if r.calls == 0 {
		return 0
	}
	return float64(r.attempts) / float64(r.calls)
}

// summarize folds one policy's timelines (indexed by call) into a row.
func summarize(name string, tls []*observe.Timeline) policyRow {
	row := policyRow{name: name, calls: len(tls)}
	lat := make([]time.Duration, 0, len(tls))
	for _, tl := range tls {
		if tl == nil {
			continue
		}
		lat = append(lat, tl.Duration())
		row.attempts += len(tl.Attempts)
		row.hedges += tl.Hedges()
		if tl.Succeeded() {
			row.ok++
			if row.example == nil && retried(tl) {
				row.example = tl
			}
			if wonByHedge(tl) {
				// The last one: by then the hedge trigger follows the key's
				// latency rather than its warm-up fallback delay.
				row.hedgeWin = tl
			}
		}
		for _, ev := range tl.Events {
			if ev.Kind == observe.EventBudgetDenied {
				row.denied++
				break
			}
		}
	}
	slices.Sort(lat)
	row.lat = lat
	row.p50, row.p99, row.p999 = quantile(lat, 50), quantile(lat, 99), quantile(lat, 99.9)
	return row
}

// retried reports whether the call ran a second round (a retry, not a hedge).
func retried(tl *observe.Timeline) bool {
	for _, a := range tl.Attempts {
		if a.Index > 0 && !a.Hedge {
			return true
		}
	}
	return false
}

// wonByHedge reports whether a hedge decided the call while an attempt it
// raced was still running (and was cancelled).
func wonByHedge(tl *observe.Timeline) bool {
	d, ok := tl.Decisive()
	if !ok || !d.Hedge {
		return false
	}
	for _, a := range tl.Attempts {
		if a.Canceled {
			return true
		}
	}
	return false
}

// quantile returns the nearest-rank q-th percentile of sorted (0 if empty).
func quantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(q/100*float64(len(sorted)))) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// demoReport is the whole run's results.
type demoReport struct {
	cfg         demoConfig
	url         string
	rows        []policyRow
	interrupted bool // Ctrl-C: the rows hold the calls that completed before it
}

// write prints the report: the table, the latency chart, two timelines.
func (r *demoReport) write(w io.Writer) { r.writeReport(w, true) }

// chart is the latency CDF of the report's policies.
func (r *demoReport) chart() cdfChart {
	c := cdfChart{title: fmt.Sprintf("rego demo: latency of %d calls per policy", r.cfg.calls)}
	for _, row := range r.rows {
		c.series = append(c.series, cdfSeries{name: row.name, lat: row.lat})
	}
	return c
}

// writeReport prints the report, with the text chart or without it (the HTML
// page draws its own).
func (r *demoReport) writeReport(w io.Writer, textChart bool) {
	c := r.cfg
	fmt.Fprintf(w, "rego demo: %d calls per policy, %d at a time, against a flaky server at %s\n", c.calls, c.concurrency, r.url)
	fmt.Fprintf(w, "server: %s of requests fail with 503, %s take 10-20x the typical %v (seed %d)\n\n",
		percent(c.failRate), percent(c.slowRate), c.latency, c.seed)
	if r.interrupted {
		fmt.Fprintf(w, "interrupted: the rows show the calls that completed before Ctrl-C\n\n")
	}

	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "policy\tcalls\tsuccess\tattempts/call\thedges\tdenied\tp50\tp99\tp99.9")
	for _, row := range r.rows {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%.2f\t%d\t%d\t%s\t%s\t%s\n", row.name, row.calls,
			percent(row.successRate()), row.attemptsPerCall(), row.hedges, row.denied,
			ms(row.p50), ms(row.p99), ms(row.p999))
	}
	tw.Flush()
	fmt.Fprintf(w, "\nattempts/call counts every attempt started, hedges included; hedges = hedge attempts fired;\n"+
		"denied = calls where a budget refused a retry or hedge (each key may add %d%% of its calls, plus %d/s);\n"+
		"latencies are per call, backoffs included.\n", demoBudgetPercent, demoBudgetFloor)
	if textChart {
		fmt.Fprintln(w)
		r.chart().writeText(w, 64, 13)
	}

	// One timeline of each kind, from the first policy that has one.
	examples := []struct {
		what string
		pick func(policyRow) *observe.Timeline
	}{
		{"needed a retry", func(r policyRow) *observe.Timeline { return r.example }},
		{"a hedge won", func(r policyRow) *observe.Timeline { return r.hedgeWin }},
	}
	for _, ex := range examples {
		for _, row := range r.rows {
			if tl := ex.pick(row); tl != nil {
				fmt.Fprintf(w, "\nA %s call that %s (rego.DoWithTimeline, then tl.String()):\n\n%s\n", row.name, ex.what, indent(tl.String()))
				break
			}
		}
	}
}

func percent(f float64) string { return strconv.FormatFloat(100*f, 'f', 1, 64) + "%" }

// ms formats d in milliseconds with one decimal: the table's columns line up.
func ms(d time.Duration) string {
	return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 1, 64) + "ms"
}

func indent(s string) string {
	s = strings.TrimRight(s, "\n")
	return "  " + strings.ReplaceAll(s, "\n", "\n  ")
}
