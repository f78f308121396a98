package policy

import "strconv"

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
// (rego policy check): it reports every problem of the document, not only the
// first 20, and lists the values the engine adjusts as warnings, in pattern
// order. Warnings are returned with the error too, for the policies that
// decoded cleanly. The Set is nil when err is not.
func CheckDocument(data []byte) (*Set, []Warning, error) {
	policies, order, err := parseDocument(data, -1)
	var warns []Warning
	for _, pat := range order {
		warns = policies[pat].adjustments(entryPath(pat)+".", warns)
	}
	if err != nil {
		return nil, warns, err
	}
	return buildSet(policies, order), warns, nil
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
