package main

// Latency traces for rego sim: parsing (plain and CSV) and the seeded sample
// generators.

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/regoresilience/rego/policy"
)

// outcome is what one attempt of a trace did besides taking its time.
type outcome uint8

const (
	outcomeOK        outcome = iota
	outcomeRetryable         // a failure worth retrying (5xx, 429, UNAVAILABLE, an error)
	outcomePermanent         // a failure no retry fixes (4xx, INVALID_ARGUMENT)
)

// sample is one recorded call: how long it took and how it ended.
type sample struct {
	lat time.Duration
	out outcome
}

// trace is the recorded calls of one key, in recording order.
type trace struct {
	key     string // the key column's value; "" when the trace has none
	samples []sample
}

// failures returns how many of the trace's calls failed.
func (t *trace) failures() int {
	n := 0
	for _, s := range t.samples {
		if s.out != outcomeOK {
			n++
		}
	}
	return n
}

// sortedLatencies returns the trace's latencies in increasing order.
func (t *trace) sortedLatencies() []time.Duration {
	lat := make([]time.Duration, len(t.samples))
	for i, s := range t.samples {
		lat[i] = s.lat
	}
	slices.Sort(lat)
	return lat
}

// attempt returns the sample attempt a of call i: the recorded call itself for
// the first attempt, and for retries and hedges a draw from the whole trace, a
// pure function of (seed, call, attempt). Drawing models attempts as
// independent (a hedge or retry usually reaches another replica).
func (t *trace) attempt(seed uint64, call, a int) sample {
	if a == 0 {
		return t.samples[call]
	}
	r := splitmix(splitmix(seed) ^ uint64(call)<<16 ^ uint64(a))
	return t.samples[r%uint64(len(t.samples))]
}

// maxTraceLines bounds a trace: 10M calls already take minutes per candidate.
const maxTraceLines = 10_000_000

// TraceError is a bad line of a trace.
type TraceError struct {
	Name string // the trace's file name, or "stdin"
	Line int    // 1-based
	Msg  string
}

func (e *TraceError) Error() string { return fmt.Sprintf("%s:%d: %s", e.Name, e.Line, e.Msg) }

// ErrEmptyTrace is returned for a trace without a single call.
var ErrEmptyTrace = errors.New("the trace has no calls")

// parseTrace reads a trace: one latency a line, or CSV with a header line (see
// simUsage). unit is the unit of bare numbers (0: bare numbers are an error).
// Calls are grouped by key, keys in order of first appearance.
func parseTrace(r io.Reader, name string, unit time.Duration) ([]*trace, error) {
	br := bufio.NewReader(r)
	// Peek at the first meaningful line to tell CSV from plain.
	head, err := br.Peek(64 << 10)
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, bufio.ErrBufferFull) {
		return nil, fmt.Errorf("reading %s: %w", name, err)
	}
	if first := firstLine(head); strings.Contains(first, ",") || strings.EqualFold(first, "latency") {
		return parseCSVTrace(br, name, unit)
	}
	return parsePlainTrace(br, name, unit)
}

// firstLine returns the first line that is neither blank nor a # comment.
func firstLine(b []byte) string {
	for len(b) > 0 {
		line, rest, _ := bytes.Cut(b, []byte("\n"))
		b = rest
		if s := strings.TrimSpace(string(line)); s != "" && !strings.HasPrefix(s, "#") {
			return s
		}
	}
	return ""
}

func parsePlainTrace(r io.Reader, name string, unit time.Duration) ([]*trace, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	tr := &trace{}
	line := 0
	for sc.Scan() {
		line++
		s := strings.TrimSpace(sc.Text())
		if s == "" || strings.HasPrefix(s, "#") {
			continue
		}
		d, msg := parseLatency(s, unit)
		if msg != "" {
			return nil, &TraceError{name, line, msg}
		}
		if len(tr.samples) >= maxTraceLines {
			return nil, &TraceError{name, line, fmt.Sprintf("more than %d calls", maxTraceLines)}
		}
		tr.samples = append(tr.samples, sample{lat: d})
	}
	if err := sc.Err(); err != nil {
		return nil, &TraceError{name, line + 1, err.Error()}
	}
	if len(tr.samples) == 0 {
		return nil, fmt.Errorf("%s: %w", name, ErrEmptyTrace)
	}
	return []*trace{tr}, nil
}

// csvColumns are the columns rego sim reads; others are ignored.
var csvColumns = []string{"latency", "status", "error", "key"}

func parseCSVTrace(r io.Reader, name string, unit time.Duration) ([]*trace, error) {
	cr := csv.NewReader(r)
	cr.Comment = '#'
	cr.TrimLeadingSpace = true
	cr.ReuseRecord = true
	header, err := cr.Read()
	if err != nil {
		return nil, csvError(name, cr, err)
	}
	col := map[string]int{}
	for i, h := range header {
		h = strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")))
		if _, dup := col[h]; dup && slices.Contains(csvColumns, h) {
			line, _ := cr.FieldPos(i)
			return nil, &TraceError{name, line, fmt.Sprintf("column %q appears twice", h)}
		}
		col[h] = i
	}
	latCol, ok := col["latency"]
	if !ok {
		line, _ := cr.FieldPos(0)
		return nil, &TraceError{name, line, fmt.Sprintf("the header %q has no latency column (columns: latency, and optionally status, error, key)", strings.Join(header, ","))}
	}
	statusCol, hasStatus := col["status"]
	errCol, hasErr := col["error"]
	keyCol, hasKey := col["key"]

	var order []*trace
	byKey := map[string]*trace{}
	total := 0
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, csvError(name, cr, err)
		}
		line, _ := cr.FieldPos(0)
		d, msg := parseLatency(strings.TrimSpace(rec[latCol]), unit)
		if msg != "" {
			return nil, &TraceError{name, line, "latency: " + msg}
		}
		s := sample{lat: d}
		if hasStatus {
			if s.out, msg = parseStatus(strings.TrimSpace(rec[statusCol])); msg != "" {
				return nil, &TraceError{name, line, "status: " + msg}
			}
		}
		if hasErr && strings.TrimSpace(rec[errCol]) != "" && s.out == outcomeOK {
			s.out = outcomeRetryable
		}
		key := ""
		if hasKey {
			key = strings.TrimSpace(rec[keyCol])
			if err := policy.ParseKey(key).Validate(); err != nil {
				return nil, &TraceError{name, line, fmt.Sprintf("key %q: %v", key, err)}
			}
		}
		if total++; total > maxTraceLines {
			return nil, &TraceError{name, line, fmt.Sprintf("more than %d calls", maxTraceLines)}
		}
		tr := byKey[key]
		if tr == nil {
			tr = &trace{key: key}
			byKey[key] = tr
			order = append(order, tr)
		}
		tr.samples = append(tr.samples, s)
	}
	if total == 0 {
		return nil, fmt.Errorf("%s: %w", name, ErrEmptyTrace)
	}
	return order, nil
}

func csvError(name string, cr *csv.Reader, err error) error {
	if errors.Is(err, io.EOF) {
		return fmt.Errorf("%s: %w", name, ErrEmptyTrace)
	}
	if pe := (*csv.ParseError)(nil); errors.As(err, &pe) {
		msg := pe.Err.Error()
		if errors.Is(pe.Err, csv.ErrFieldCount) {
			msg = "wrong number of fields (the header has a different count)"
		}
		return &TraceError{name, pe.Line, msg}
	}
	line, _ := cr.FieldPos(0)
	return &TraceError{name, line, err.Error()}
}

// parseLatency parses "12ms", "1.5s", "830us" or, with a unit, "12" and "1.5".
// It returns a message on failure.
func parseLatency(s string, unit time.Duration) (time.Duration, string) {
	if s == "" {
		return 0, "empty latency"
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		if unit == 0 {
			return 0, fmt.Sprintf("%q has no unit: write %sms (or %ss), or pass -unit ms", s, s, s)
		}
		if !(f >= 0) || math.IsInf(f, 1) || f*float64(unit) > float64(maxLatency) {
			return 0, fmt.Sprintf("%q: must be between 0 and %v", s, maxLatency)
		}
		return time.Duration(math.Round(f * float64(unit))), ""
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Sprintf("%q is not a duration (examples: 12ms, 1.5s, 830us)", s)
	}
	if d < 0 || d > maxLatency {
		return 0, fmt.Sprintf("%q: must be between 0 and %v", s, maxLatency)
	}
	return d, ""
}

// maxLatency bounds one recorded latency: a trace is calls, not outages.
const maxLatency = time.Hour

// parseStatus classifies a status cell: HTTP codes, gRPC codes (numbers 0-16
// or names) and a few words.
func parseStatus(s string) (outcome, string) {
	if s == "" {
		return outcomeOK, ""
	}
	if n, err := strconv.Atoi(s); err == nil {
		switch {
		case n == 0:
			return outcomeOK, ""
		case n >= 1 && n <= 16:
			return grpcOutcome(n), ""
		case n >= 100 && n < 400:
			return outcomeOK, ""
		case n == 408 || n == 429 || n >= 500 && n < 600:
			return outcomeRetryable, ""
		case n >= 400 && n < 500:
			return outcomePermanent, ""
		}
		return 0, fmt.Sprintf("%q is not an HTTP status (100-599) or a gRPC code (0-16)", s)
	}
	switch u := strings.ToUpper(s); u {
	case "OK", "SUCCESS", "SUCCEEDED", "TRUE":
		return outcomeOK, ""
	case "ERROR", "ERR", "FAIL", "FAILED", "FAILURE", "TIMEOUT", "FALSE":
		return outcomeRetryable, ""
	default:
		if i := slices.Index(grpcCodeNames, u); i > 0 {
			return grpcOutcome(i), ""
		}
	}
	return 0, fmt.Sprintf("%q: want ok/error, an HTTP status or a gRPC code (OK, UNAVAILABLE, ...)", s)
}

// grpcCodeNames are the gRPC status codes by number.
var grpcCodeNames = []string{"OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED",
	"NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
	"ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED"}

// grpcOutcome follows gRPC's guidance on which codes a client may retry.
func grpcOutcome(code int) outcome {
	switch grpcCodeNames[code] {
	case "UNAVAILABLE", "RESOURCE_EXHAUSTED", "DEADLINE_EXCEEDED", "ABORTED", "UNKNOWN", "INTERNAL":
		return outcomeRetryable
	}
	return outcomePermanent
}

// Sample trace generators. Each is a pure function of (n, seed).
var generators = map[string]struct {
	doc string
	gen func(w io.Writer, n int, seed uint64) error
}{
	"tail-at-scale": {"98% of calls take 1-10ms, 2% take 200-1000ms (uniform), independently", genTailAtScale},
	"gc-pause": {"1-4ms calls arriving every 1ms; every 2s the server pauses 40-100ms and the calls that arrive " +
		"during a pause wait for its end; 0.5% fail fast with 503 (CSV: latency,status)", genGCPause},
}

func generatorNames() []string {
	names := make([]string, 0, len(generators))
	for n := range generators {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

func genTailAtScale(w io.Writer, n int, seed uint64) error {
	r := rand.New(rand.NewPCG(seed, splitmix(seed)))
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, "# rego sim -generate tail-at-scale -n %d -seed %d\n", n, seed)
	for range n {
		var d time.Duration
		if r.Float64() < 0.02 {
			d = 200*time.Millisecond + time.Duration(r.Int64N(int64(800*time.Millisecond)))
		} else {
			d = time.Millisecond + time.Duration(r.Int64N(int64(9*time.Millisecond)))
		}
		fmt.Fprintf(bw, "%s\n", fmtLatency(d))
	}
	return bw.Flush()
}

func genGCPause(w io.Writer, n int, seed uint64) error {
	r := rand.New(rand.NewPCG(seed, splitmix(seed)))
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, "# rego sim -generate gc-pause -n %d -seed %d\nlatency,status\n", n, seed)
	const (
		arrival = time.Millisecond
		period  = 2 * time.Second
	)
	pauseStart, pauseEnd := time.Duration(-1), time.Duration(-1)
	for i := range n {
		at := time.Duration(i) * arrival
		if at/period != pauseStart/period || pauseStart < 0 {
			// A new period: its pause starts somewhere in it.
			pauseStart = at/period*period + time.Duration(r.Int64N(int64(period-100*time.Millisecond)))
			pauseEnd = pauseStart + 40*time.Millisecond + time.Duration(r.Int64N(int64(60*time.Millisecond)))
		}
		d := time.Millisecond + time.Duration(r.Int64N(int64(3*time.Millisecond)))
		if at >= pauseStart && at < pauseEnd {
			d += pauseEnd - at
		}
		status := 200
		if r.Float64() < 0.005 {
			status, d = 503, time.Millisecond/2+time.Duration(r.Int64N(int64(time.Millisecond)))
		}
		fmt.Fprintf(bw, "%s,%d\n", fmtLatency(d), status)
	}
	return bw.Flush()
}

// fmtLatency writes d in ms with microsecond precision: "12.345ms".
func fmtLatency(d time.Duration) string {
	return strconv.FormatFloat(float64(d.Round(time.Microsecond))/float64(time.Millisecond), 'f', -1, 64) + "ms"
}
