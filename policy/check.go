package policy

import (
	"slices"
	"strconv"
	"strings"
)

// Warning is a value a document sets that the engine will not use as
// written, because Normalize caps or adjusts it (max_attempts 50 runs as 10).
// Such a document is valid; a tool showing it to a person should say so.
type Warning struct {
	Path string // the field, as in a FieldError: policies["svc.Op"].retry.max_attempts
	Msg  string // what the engine uses instead, and why
}

// String returns Path + ": " + Msg.
func (w Warning) String() string { return w.Path + ": " + w.Msg }

// CheckDocument is ParseDocument for tools that show a document to a person
// (rego policy check): it reports every problem of the document in one
// error, not only the first 20, and lists the values the engine adjusts as
// warnings, in pattern order.
//
// valid holds the document's valid policies. When err is nil it is the
// document's Set, as ParseDocument returns it; when err is not, it holds
// only the policies without problems (empty when the document is not JSON),
// so that a tool can still describe them: a program must never run a
// document that has problems. Warnings cover every policy, valid or not,
// except for fields that have a problem.
func CheckDocument(data []byte) (valid *Set, warns []Warning, err error) {
	type found struct {
		pattern string
		warns   []Warning
	}
	var all []found
	policies, order, err := parseDocument(data, -1, func(pattern string, p Policy, reported func(string) bool) {
		var ws []Warning
		for _, w := range p.adjustments(entryPath(pattern)+".", nil) {
			if !reported(w.Path) {
				ws = append(ws, w)
			}
		}
		all = append(all, found{pattern, ws})
	})
	slices.SortStableFunc(all, func(a, b found) int { return strings.Compare(a.pattern, b.pattern) })
	for _, f := range all {
		warns = append(warns, f.warns...)
	}
	return buildSet(policies, order), warns, err
}

// adjustments appends a Warning for each value of p (which passed Validate)
// that Normalize changes, other than zeros taking their defaults.
func (p Policy) adjustments(prefix string, warns []Warning) []Warning {
	n := p.Normalize()
	add := func(path, msg string) { warns = append(warns, Warning{Path: prefix + path, Msg: msg}) }
	if r := p.Retry.MaxAttempts; r > MaxAttemptsLimit {
		add("retry.max_attempts", strconv.Itoa(r)+" is capped to "+strconv.Itoa(MaxAttemptsLimit)+
			" (each extra attempt multiplies the load on a failing backend)")
	}
	if p.Retry.MaxBackoff != 0 && n.Retry.MaxBackoff != p.Retry.MaxBackoff {
		add("retry.max_backoff", p.Retry.MaxBackoff.String()+" is raised to initial_backoff "+n.Retry.InitialBackoff.String())
	}
	if a := p.Retry.AttemptTimeout; a != 0 && n.Retry.AttemptTimeout != a {
		add("retry.attempt_timeout", a.String()+" is lowered to timeout "+n.Timeout.String()+
			" (an attempt cannot outlive its call)")
	}
	if h := p.Hedge.MaxHedges; h > MaxHedgesLimit {
		add("hedge.max_hedges", strconv.Itoa(h)+" is capped to "+strconv.Itoa(MaxHedgesLimit)+
			" (each hedge adds load to every slow call)")
	}
	if m := p.Hedge.MaxDelay; m != 0 && n.Hedge.MaxDelay != m {
		add("hedge.max_delay", m.String()+" is raised to min_delay "+n.Hedge.MinDelay.String())
	}
	if p.Hedge.MaxHedges == 0 && p.Hedge != (Hedge{}) {
		add("hedge", "has no effect: max_hedges is 0 (no hedging)")
	}
	return warns
}
