package policy

import (
	"bytes"
	"encoding/json"
	"strconv"
	"time"
)

// The JSON form of a Policy (see MarshalJSON). Field names are the
// snake_case of the Go names; durations are Go duration strings.
//
// Decoding is done by hand (decodePolicy) instead of through these structs:
// a custom UnmarshalJSON loses the caller's DisallowUnknownFields, encoding/json
// matches names case-insensitively and lets duplicates win silently, and it
// cannot tell an explicit 0 from an omitted field. These structs only encode.
type (
	policyJSON struct {
		Retry       *retryJSON   `json:"retry,omitempty"`
		Hedge       *hedgeJSON   `json:"hedge,omitempty"`
		Timeout     string       `json:"timeout,omitempty"`
		Classifier  string       `json:"classifier,omitempty"`
		RetryBudget string       `json:"retry_budget,omitempty"`
		HedgeBudget string       `json:"hedge_budget,omitempty"`
		Breaker     *breakerJSON `json:"breaker,omitempty"`
	}
	breakerJSON struct {
		FailureRate    float64 `json:"failure_rate,omitempty"`
		MinCalls       int     `json:"min_calls,omitempty"`
		Window         string  `json:"window,omitempty"`
		OpenDuration   string  `json:"open_duration,omitempty"`
		HalfOpenProbes int     `json:"half_open_probes,omitempty"`
	}
	retryJSON struct {
		MaxAttempts    int     `json:"max_attempts,omitempty"`
		InitialBackoff string  `json:"initial_backoff,omitempty"`
		MaxBackoff     string  `json:"max_backoff,omitempty"`
		Multiplier     float64 `json:"multiplier,omitempty"`
		Jitter         string  `json:"jitter,omitempty"`
		AttemptTimeout string  `json:"attempt_timeout,omitempty"`
		MaxRetryAfter  string  `json:"max_retry_after,omitempty"`
	}
	hedgeJSON struct {
		MaxHedges  int     `json:"max_hedges,omitempty"`
		Delay      string  `json:"delay,omitempty"`
		Percentile float64 `json:"percentile,omitempty"`
		MinSamples int     `json:"min_samples,omitempty"`
		MinDelay   string  `json:"min_delay,omitempty"`
		MaxDelay   string  `json:"max_delay,omitempty"`
	}
)

// MarshalJSON implements json.Marshaler. Zero fields are omitted (they mean
// "default" or "off" and decode back to zero), durations are written with
// time.Duration.String, and the jitter mode is written whenever the retry
// object is. The result decodes back to an equal Policy.
//
// A policy that Validate rejects is an error: its JSON could not be read back.
func (p Policy) MarshalJSON() ([]byte, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	var out policyJSON
	if r := p.Retry; r != (Retry{}) {
		out.Retry = &retryJSON{
			MaxAttempts:    r.MaxAttempts,
			InitialBackoff: durationText(r.InitialBackoff),
			MaxBackoff:     durationText(r.MaxBackoff),
			Multiplier:     r.Multiplier,
			Jitter:         r.Jitter.String(),
			AttemptTimeout: durationText(r.AttemptTimeout),
			MaxRetryAfter:  durationText(r.MaxRetryAfter),
		}
	}
	if h := p.Hedge; h != (Hedge{}) {
		out.Hedge = &hedgeJSON{
			MaxHedges:  h.MaxHedges,
			Delay:      durationText(h.Delay),
			Percentile: h.Percentile,
			MinSamples: h.MinSamples,
			MinDelay:   durationText(h.MinDelay),
			MaxDelay:   durationText(h.MaxDelay),
		}
	}
	if b := p.Breaker; b != (Breaker{}) {
		out.Breaker = &breakerJSON{
			FailureRate:    b.FailureRate,
			MinCalls:       b.MinCalls,
			Window:         durationText(b.Window),
			OpenDuration:   durationText(b.OpenDuration),
			HalfOpenProbes: b.HalfOpenProbes,
		}
	}
	out.Timeout = durationText(p.Timeout)
	out.Classifier, out.RetryBudget, out.HedgeBudget = p.Classifier, p.RetryBudget, p.HedgeBudget

	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(out); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

func durationText(d time.Duration) string {
	if d == 0 {
		return ""
	}
	return d.String()
}

// UnmarshalJSON implements json.Unmarshaler. It replaces *p entirely (fields
// absent from data become zero, i.e. default), and is strict at every depth:
// unknown, duplicate or differently-cased field names, wrong JSON types,
// null values, non-duration strings, and an explicit zero where zero would
// mean "default" or "off" (max_attempts, initial_backoff, max_backoff,
// multiplier, max_retry_after, min_samples, and every breaker field) are
// errors. The decoded policy must also pass
// Validate. JSON null leaves *p unchanged, as encoding/json expects.
//
// Errors join *FieldErrors naming each field's path and match
// ErrInvalidPolicy.
func (p *Policy) UnmarshalJSON(data []byte) error {
	data = bytes.TrimSpace(data)
	if string(data) == "null" {
		return nil
	}
	var l errList
	got, _ := decodePolicy(data, "", &l)
	got.validateDecoded("", &l)
	if err := l.err(); err != nil {
		return err
	}
	*p = got
	return nil
}

// Field names, shared by decoding, unknown-field suggestions and docs.
var (
	policyFields  = []string{"retry", "hedge", "timeout", "classifier", "retry_budget", "hedge_budget", "breaker"}
	retryFields   = []string{"max_attempts", "initial_backoff", "max_backoff", "multiplier", "jitter", "attempt_timeout", "max_retry_after"}
	hedgeFields   = []string{"max_hedges", "delay", "percentile", "min_samples", "min_delay", "max_delay"}
	breakerFields = []string{"failure_rate", "min_calls", "window", "open_duration", "half_open_probes"}
)

// decodePolicy decodes one policy object. Problems are added to l with paths
// prefixed by prefix; ok is false if there were any. It does not Validate.
func decodePolicy(data []byte, prefix string, l *errList) (p Policy, ok bool) {
	before := l.n()
	d := fieldDecoder{l: l}
	walkObject(data, prefix, "policy", policyFields, l, func(name, path string, v []byte) {
		switch name {
		case "retry":
			walkObject(v, path, path, retryFields, l, func(name, path string, v []byte) {
				r := &p.Retry
				switch name {
				case "max_attempts":
					r.MaxAttempts = d.count(path, v, "must be >= 1")
				case "initial_backoff":
					r.InitialBackoff = d.duration(path, v, "must be > 0")
				case "max_backoff":
					r.MaxBackoff = d.duration(path, v, "must be > 0")
				case "multiplier":
					r.Multiplier = d.float(path, v, "must be >= 1")
				case "jitter":
					if s, ok := d.str(path, v); ok {
						if j, ok := parseJitter(s); ok {
							r.Jitter = j
						} else {
							l.field(path, jitterChoices(s))
						}
					}
				case "attempt_timeout":
					r.AttemptTimeout = d.duration(path, v, "")
				case "max_retry_after":
					r.MaxRetryAfter = d.duration(path, v, "must be > 0")
				}
			})
		case "hedge":
			walkObject(v, path, path, hedgeFields, l, func(name, path string, v []byte) {
				h := &p.Hedge
				switch name {
				case "max_hedges":
					h.MaxHedges = d.count(path, v, "")
				case "delay":
					h.Delay = d.duration(path, v, "")
				case "percentile":
					h.Percentile = d.float(path, v, "")
				case "min_samples":
					h.MinSamples = d.count(path, v, "must be >= 1")
				case "min_delay":
					h.MinDelay = d.duration(path, v, "")
				case "max_delay":
					h.MaxDelay = d.duration(path, v, "")
				}
			})
		case "breaker":
			walkObject(v, path, path, breakerFields, l, func(name, path string, v []byte) {
				b := &p.Breaker
				switch name {
				case "failure_rate":
					b.FailureRate = d.float(path, v, `must be > 0 (omit "breaker" to turn it off)`)
				case "min_calls":
					b.MinCalls = d.count(path, v, "must be >= 1")
				case "window":
					b.Window = d.duration(path, v, "must be > 0")
				case "open_duration":
					b.OpenDuration = d.duration(path, v, "must be > 0")
				case "half_open_probes":
					b.HalfOpenProbes = d.count(path, v, "must be >= 1")
				}
			})
		case "timeout":
			p.Timeout = d.duration(path, v, "")
		case "classifier":
			p.Classifier, _ = d.str(path, v)
		case "retry_budget":
			p.RetryBudget, _ = d.str(path, v)
		case "hedge_budget":
			p.HedgeBudget, _ = d.str(path, v)
		}
	})
	return p, l.n() == before
}

// walkObject decodes the JSON object data, calling visit for each known
// member in document order with the member's path. Unknown and duplicate
// names, non-objects and null are reported to l under label (used when path
// is empty, i.e. at the root). Member names match exactly: encoding/json's
// case-insensitive matching would accept "Max_Attempts".
//
// known == nil means the object is a map: every name is accepted and member
// paths are written path["name"].
func walkObject(data []byte, path, label string, known []string, l *errList,
	visit func(name, path string, value []byte)) {
	if path != "" {
		label = path
	}
	data = bytes.TrimSpace(data)
	if len(data) == 0 || data[0] != '{' {
		l.field(label, "must be a JSON object, not "+jsonKind(data))
		return
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	if _, err := dec.Token(); err != nil { // '{'
		l.field(label, "malformed JSON: "+err.Error())
		return
	}
	seen := make(map[string]bool, len(known))
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			l.field(label, "malformed JSON: "+err.Error())
			return
		}
		name, _ := tok.(string)
		var value json.RawMessage
		if err := dec.Decode(&value); err != nil {
			l.field(label, "malformed JSON: "+err.Error())
			return
		}
		member := join(path, name)
		if known == nil {
			member = path + "[" + quoteShort(name) + "]"
		}
		switch {
		case known != nil && !contains(known, name):
			l.field(label, "unknown field "+quoteShort(name)+suggest(name, known))
		case seen[name]:
			l.field(member, "duplicate entry")
		default:
			seen[name] = true
			visit(name, member, value)
		}
	}
	if _, err := dec.Token(); err != nil { // '}'
		l.field(label, "malformed JSON: "+err.Error())
		return
	}
	if rest := bytes.TrimSpace(data[dec.InputOffset():]); len(rest) > 0 {
		l.field(label, "unexpected data after the object")
	}
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// jsonKind names the JSON type of a raw value for error messages.
func jsonKind(v []byte) string {
	if len(v) == 0 {
		return "empty input"
	}
	switch v[0] {
	case '{':
		return "an object"
	case '[':
		return "an array"
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	}
	return "a number"
}

// fieldDecoder converts raw member values, reporting problems with the path.
// zeroMsg, when not empty, is the error for an explicit zero: for those
// fields zero means "default" and writing it is almost always a mistake (the
// user wanted "none"), so it is refused rather than silently replaced.
type fieldDecoder struct{ l *errList }

func (d fieldDecoder) count(path string, v []byte, zeroMsg string) int {
	var n int
	if len(v) == 0 || (v[0] != '-' && (v[0] < '0' || v[0] > '9')) {
		d.l.field(path, "must be an integer, not "+jsonKind(v))
		return 0
	}
	if err := json.Unmarshal(v, &n); err != nil {
		d.l.field(path, "must be an integer, not "+quoteShort(string(v)))
		return 0
	}
	if n == 0 && zeroMsg != "" {
		d.l.field(path, zeroMsg)
	}
	return n
}

func (d fieldDecoder) float(path string, v []byte, zeroMsg string) float64 {
	var f float64
	if len(v) == 0 || (v[0] != '-' && (v[0] < '0' || v[0] > '9')) {
		d.l.field(path, "must be a number, not "+jsonKind(v))
		return 0
	}
	if err := json.Unmarshal(v, &f); err != nil {
		d.l.field(path, "must be a finite number, not "+quoteShort(string(v)))
		return 0
	}
	if f == 0 && zeroMsg != "" {
		d.l.field(path, zeroMsg)
	}
	return f
}

func (d fieldDecoder) str(path string, v []byte) (string, bool) {
	var s string
	if len(v) == 0 || v[0] != '"' {
		d.l.field(path, "must be a string, not "+jsonKind(v))
		return "", false
	}
	if err := json.Unmarshal(v, &s); err != nil {
		d.l.field(path, "malformed string: "+err.Error())
		return "", false
	}
	return s, true
}

func (d fieldDecoder) duration(path string, v []byte, zeroMsg string) time.Duration {
	if len(v) == 0 || v[0] != '"' {
		d.l.field(path, `must be a duration string such as "250ms", not `+jsonKind(v))
		return 0
	}
	s, ok := d.str(path, v)
	if !ok {
		return 0
	}
	dur, msg := parseDuration(s)
	if msg != "" {
		d.l.field(path, msg)
		return 0
	}
	if dur == 0 && zeroMsg != "" {
		d.l.field(path, zeroMsg)
	}
	return dur
}

// suggest returns a "did you mean" hint for a misspelt field name: the
// known name within edit distance 2, else the one sharing the longest prefix
// (at least 4 bytes, e.g. "retries" -> "retry"), else the list of names.
func suggest(name string, known []string) string {
	best, bestDist := "", 3
	for _, k := range known {
		if d := editDistance(name, k, bestDist); d < bestDist {
			best, bestDist = k, d
		}
	}
	if best == "" {
		bestPrefix, tie := 3, false
		for _, k := range known {
			switch n := commonPrefix(name, k); {
			case n > bestPrefix:
				best, bestPrefix, tie = k, n, false
			case n == bestPrefix:
				tie = true
			}
		}
		if tie {
			best = ""
		}
	}
	if best == "" {
		return " (known: " + quoteList(known) + ")"
	}
	return " (did you mean " + strconv.Quote(best) + "?)"
}

func commonPrefix(a, b string) int {
	n := 0
	for n < len(a) && n < len(b) && a[n] == b[n] {
		n++
	}
	return n
}

func quoteList(list []string) string {
	var b bytes.Buffer
	for i, s := range list {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(strconv.Quote(s))
	}
	return b.String()
}

// editDistance is the Levenshtein distance between a and b, or limit when it
// is at least limit (long inputs are cut short early).
func editDistance(a, b string, limit int) int {
	if len(a)-len(b) >= limit || len(b)-len(a) >= limit {
		return limit
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		rowMin := cur[0]
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			rowMin = min(rowMin, cur[j])
		}
		if rowMin >= limit {
			return limit
		}
		prev, cur = cur, prev
	}
	return min(prev[len(b)], limit)
}
