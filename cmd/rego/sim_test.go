package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/regoresilience/rego/policy"
)

// TestParseTrace verifies both formats, units, statuses and keys.
func TestParseTrace(t *testing.T) {
	tests := []struct {
		name, in string
		unit     time.Duration
		want     map[string][]sample
	}{
		{"plain", "# a comment\n12ms\n\n1.5s\n830us\n0s\n", 0,
			map[string][]sample{"": {{lat: 12 * time.Millisecond}, {lat: 1500 * time.Millisecond}, {lat: 830 * time.Microsecond}, {}}}},
		{"bare numbers with -unit", "12\n1.5\n", time.Millisecond,
			map[string][]sample{"": {{lat: 12 * time.Millisecond}, {lat: 1500 * time.Microsecond}}}},
		{"csv", "latency,status,error,key\n12ms,200,,a.B\n3ms,503,,a.B\n4ms,,boom,c.D\n5ms,404,,a.B\n6ms,UNAVAILABLE,,c.D\n7ms,ok,,c.D\n", 0,
			map[string][]sample{
				"a.B": {{lat: 12 * time.Millisecond}, {lat: 3 * time.Millisecond, out: outcomeRetryable}, {lat: 5 * time.Millisecond, out: outcomePermanent}},
				"c.D": {{lat: 4 * time.Millisecond, out: outcomeRetryable}, {lat: 6 * time.Millisecond, out: outcomeRetryable}, {lat: 7 * time.Millisecond}},
			}},
		{"csv with other columns and ms", "ts,Latency,host\n1,12,h1\n2,13.5,h2\n", time.Millisecond,
			map[string][]sample{"": {{lat: 12 * time.Millisecond}, {lat: 13500 * time.Microsecond}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			trs, err := parseTrace(strings.NewReader(tt.in), "t", tt.unit)
			if err != nil {
				t.Fatal(err)
			}
			got := map[string][]sample{}
			for _, tr := range trs {
				got[tr.key] = tr.samples
			}
			if len(got) != len(tt.want) {
				t.Fatalf("keys %v, want %v", got, tt.want)
			}
			for k, w := range tt.want {
				if g := got[k]; !equalSamples(g, w) {
					t.Errorf("key %q: %v, want %v", k, g, w)
				}
			}
		})
	}
}

func equalSamples(a, b []sample) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestParseTraceErrors verifies that a bad line is reported with its number
// and what is wrong with it.
func TestParseTraceErrors(t *testing.T) {
	tests := []struct {
		name, in string
		unit     time.Duration
		want     string
	}{
		{"bare number", "12ms\n# c\n12\n", 0, `t:3: "12" has no unit: write 12ms`},
		{"garbage", "12ms\nfast\n", 0, `t:2: "fast" is not a duration`},
		{"negative", "-3ms\n", 0, `t:1: "-3ms": must be between 0`},
		{"negative number", "-3\n", time.Millisecond, `t:1: "-3": must be between 0`},
		{"huge", "2h\n", 0, `t:1: "2h": must be between 0 and 1h0m0s`},
		{"empty", "# nothing\n\n", 0, "the trace has no calls"},
		{"csv no latency", "ms,status\n1,200\n", 0, "t:1: the header \"ms,status\" has no latency column"},
		{"csv bad status", "latency,status\n1ms,200\n2ms,teapot\n", 0, `t:3: status: "teapot"`},
		{"csv bad status code", "latency,status\n1ms,999\n", 0, `t:2: status: "999" is not an HTTP status`},
		{"csv field count", "latency,status\n1ms,200\n2ms\n", 0, "t:3: wrong number of fields"},
		{"csv bad latency", "latency\n1ms\n2 ms\n", 0, `t:3: latency: "2 ms" is not a duration`},
		{"csv bad key", "latency,key\n1ms,users.Get\n2ms,GetUser\n", 0, `t:3: key "GetUser"`},
		{"csv header only", "latency,status\n", 0, "the trace has no calls"},
		{"csv duplicate column", "latency,latency\n1ms,2ms\n", 0, `t:1: column "latency" appears twice`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseTrace(strings.NewReader(tt.in), "t", tt.unit)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want it to contain %q", err, tt.want)
			}
			if te := (*TraceError)(nil); strings.HasPrefix(tt.want, "t:") && !errors.As(err, &te) {
				t.Errorf("error %T is not a *TraceError", err)
			}
		})
	}
}

// FuzzParseTrace verifies that no input makes the parser panic or accept a
// latency out of range.
func FuzzParseTrace(f *testing.F) {
	for _, s := range []string{"12ms\n1.5s\n", "12\n", "latency,status,key\n1ms,503,a.B\n", "latency\n\"1ms\n", "#\n,\n"} {
		f.Add(s, false)
	}
	f.Fuzz(func(t *testing.T, in string, ms bool) {
		unit := time.Duration(0)
		if ms {
			unit = time.Millisecond
		}
		trs, err := parseTrace(strings.NewReader(in), "fuzz", unit)
		if err != nil {
			return
		}
		n := 0
		for _, tr := range trs {
			n += len(tr.samples)
			for _, s := range tr.samples {
				if s.lat < 0 || s.lat > maxLatency {
					t.Fatalf("latency %v out of range", s.lat)
				}
			}
		}
		if n == 0 {
			t.Fatal("a trace without calls parsed")
		}
	})
}

// TestSampleTraces verifies that the traces under testdata are what the
// documented generator makes, so anyone can regenerate or extend them.
func TestSampleTraces(t *testing.T) {
	for name, file := range map[string]string{"tail-at-scale": "tail-at-scale.txt", "gc-pause": "gc-pause.csv"} {
		want, err := os.ReadFile(filepath.Join("testdata", "sim", file))
		if err != nil {
			t.Fatal(err)
		}
		var got bytes.Buffer
		if err := generators[name].gen(&got, 10000, 1); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got.Bytes(), want) {
			t.Errorf("testdata/sim/%s differs from rego sim -generate %s -n 10000 -seed 1", file, name)
		}
	}
}

// smallTrace returns the first n calls of the tail-at-scale sample.
func smallTrace(t *testing.T, n int) *trace {
	t.Helper()
	var buf bytes.Buffer
	if err := genTailAtScale(&buf, n, 1); err != nil {
		t.Fatal(err)
	}
	trs, err := parseTrace(&buf, "gen", 0)
	if err != nil {
		t.Fatal(err)
	}
	return trs[0]
}

// TestReplayDeterministic verifies that a replay on virtual time is
// reproducible: the settle loop leaves no timing to chance.
func TestReplayDeterministic(t *testing.T) {
	tr := smallTrace(t, 3000)
	c := candidate{name: "p95", budgets: true, policy: policy.Policy{Retry: policy.Retry{MaxAttempts: 1},
		Hedge: policy.Hedge{MaxHedges: 1, Percentile: 95, Delay: 10 * time.Millisecond}}}
	a, err := replay(context.Background(), tr, c, 16, 1)
	if err != nil {
		t.Fatal(err)
	}
	b, err := replay(context.Background(), tr, c, 16, 1)
	if err != nil {
		t.Fatal(err)
	}
	if a.attempts != b.attempts || a.p999 != b.p999 || a.virtual != b.virtual || !equalDurations(a.lat, b.lat) {
		t.Errorf("two replays differ: %d attempts, p99.9 %v, %v virtual vs %d, %v, %v",
			a.attempts, a.p999, a.virtual, b.attempts, b.p999, b.virtual)
	}
	if a.calls != 3000 || a.extraLoad() <= 0 || a.p999 >= 200*time.Millisecond {
		t.Errorf("hedging at p95: %d calls, extra load %v, p99.9 %v; want 3000 calls, some hedges, no slow tail",
			a.calls, a.extraLoad(), a.p999)
	}
}

func equalDurations(a, b []time.Duration) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestReplayInterrupted verifies that a replay whose context ends stops and
// returns the calls measured so far.
func TestReplayInterrupted(t *testing.T) {
	tr := smallTrace(t, 100000)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	c := candidate{name: "none", budgets: true, policy: policy.Policy{Retry: policy.Retry{MaxAttempts: 1}}}
	r, err := replay(ctx, tr, c, 16, 1)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want the context's", err)
	}
	if r.calls == 0 || r.calls >= len(tr.samples) || len(r.lat) != r.calls {
		t.Errorf("interrupted replay measured %d calls (%d latencies) of %d", r.calls, len(r.lat), len(tr.samples))
	}
}

// TestSimRecommends verifies the whole command on a sample trace: the
// recommendation beats no hedging within the load limit, and its document
// passes the same validation as rego policy check.
func TestSimRecommends(t *testing.T) {
	if testing.Short() {
		t.Skip("replays a grid of candidates")
	}
	dir := t.TempDir()
	trace := filepath.Join(dir, "trace.csv")
	var buf bytes.Buffer
	if err := genGCPause(&buf, 4000, 1); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(trace, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	out, svg := filepath.Join(dir, "policy.json"), filepath.Join(dir, "sim.svg")
	code, stdout, stderr := runCmd("sim", "-c", "16", "-o", out, trace, "-key", "users.*", "-svg", svg) // flags after TRACE too
	if code != exitOK {
		t.Fatalf("rego sim = %d, stderr:\n%s", code, stderr)
	}
	for _, want := range []string{"<- recommended", "recommended for users.*", `"users.*"`, "no hedge, retry"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, stdout)
		}
	}
	doc, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	set, err := policy.ParseDocument(doc)
	if err != nil {
		t.Fatalf("the recommended document does not parse: %v\n%s", err, doc)
	}
	p, _, ok := set.Resolve(policy.ParseKey("users.GetUser"))
	if !ok || p.Hedge.MaxHedges == 0 {
		t.Errorf("recommended policy %+v: want a hedge for this trace", p)
	}
	if code, stdout, stderr := runCmd("policy", "check", out); code != exitOK {
		t.Errorf("rego policy check = %d:\n%s%s", code, stdout, stderr)
	}
	if b, err := os.ReadFile(svg); err != nil || !bytes.Contains(b, []byte("(recommended)")) {
		t.Errorf("-svg: %v; the chart lacks the recommendation", err)
	}
}

// TestSimPerKey verifies that a trace with a key column gets one
// recommendation per key, in one document.
func TestSimPerKey(t *testing.T) {
	var in strings.Builder
	in.WriteString("latency,key\n")
	for i := range 600 {
		d := time.Duration(1+i%7) * time.Millisecond
		if i%50 == 0 {
			d = 300 * time.Millisecond
		}
		fmt.Fprintf(&in, "%s,users.Get\n%s,billing.Charge\n", d, d*2)
	}
	trs, err := parseTrace(strings.NewReader(in.String()), "t", 0)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := simulate(context.Background(), "t", trs, simConfig{concurrency: 8, maxLoad: 0.05, seed: 1, pattern: "*"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	set, err := policy.ParseDocument(rep.doc)
	if err != nil {
		t.Fatalf("%v\n%s", err, rep.doc)
	}
	if got := set.Patterns(); len(got) != 2 || got[0] != "billing.Charge" || got[1] != "users.Get" {
		t.Errorf("patterns %v, want billing.Charge and users.Get", got)
	}
}

// TestRecommend verifies the ranking rules on made-up results.
func TestRecommend(t *testing.T) {
	r := func(name string, attempts, errs int, p999, mx time.Duration) simResult {
		return simResult{cand: candidate{name: name}, calls: 1000, attempts: attempts, errors: errs, p999: p999, max: mx,
			slowLoad: float64(attempts)/1000 - 1}
	}
	ms := time.Millisecond
	tests := []struct {
		name string
		rs   []simResult
		want string
	}{
		{"lowest p99.9 within load", []simResult{r("none", 1000, 0, 900*ms, ms), r("a", 1040, 0, 20*ms, ms), r("b", 1080, 0, 10*ms, ms)}, "a"},
		{"fewer errors first", []simResult{r("none", 1000, 30, 100*ms, ms), r("retry", 1030, 2, 200*ms, ms)}, "retry"},
		{"near tie: less load", []simResult{r("none", 1000, 0, 900*ms, ms), r("x2", 1040, 0, 20*ms, ms), r("x1", 1030, 0, 20200*time.Microsecond, ms)}, "x1"},
		{"same load: lower max", []simResult{r("x1", 1030, 0, 20*ms, 900*ms), r("x2", 1030, 0, 20*ms, 30*ms)}, "x2"},
		{"fragile under a slowdown", []simResult{r("none", 1000, 0, 900*ms, ms), r("a", 1040, 0, 20*ms, ms),
			func() simResult { x := r("fixed", 1030, 0, 10*ms, ms); x.slowLoad = 0.09; return x }()}, "a"},
		{"nothing within load", []simResult{r("a", 1100, 0, 20*ms, ms), r("b", 1070, 0, 30*ms, ms)}, "b"},
	}
	for _, tt := range tests {
		if got := tt.rs[recommend(tt.rs, 0.05)].cand.name; got != tt.want {
			t.Errorf("%s: recommend = %s, want %s", tt.name, got, tt.want)
		}
	}
}

// TestSimCommandLine verifies the sim's usage errors and help.
func TestSimCommandLine(t *testing.T) {
	code, out, errOut := runCmd("sim", "-h")
	if code != exitOK || errOut != "" || !strings.Contains(out, "Usage: rego sim") || !strings.Contains(out, "-max-load") {
		t.Errorf("rego sim -h = %d, stdout %q, stderr %q", code, out, errOut)
	}
	code, out, _ = runCmd("help", "sim")
	if code != exitOK || !strings.Contains(out, "Usage: rego sim") {
		t.Errorf("rego help sim = %d, stdout %q", code, out)
	}
	bad := filepath.Join(t.TempDir(), "bad.txt")
	if err := os.WriteFile(bad, []byte("1ms\n2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		args    []string
		code    int
		wantErr string
	}{
		{[]string{}, exitUsage, "want one TRACE argument"},
		{[]string{"-unit", "hours", "x"}, exitUsage, `-unit "hours"`},
		{[]string{"-max-load", "lots", "x"}, exitUsage, "want a percentage"},
		{[]string{"-c", "0", "x"}, exitUsage, "-c 0"},
		{[]string{"-key", "no pattern", "x"}, exitUsage, "-key"},
		{[]string{"-generate", "nope"}, exitUsage, `-generate "nope"`},
		{[]string{bad}, exitFail, bad + `:2: "2" has no unit`},
		{[]string{filepath.Join(t.TempDir(), "missing")}, exitFail, "no such file"},
	}
	for _, tt := range tests {
		code, _, errOut := runCmd(append([]string{"sim"}, tt.args...)...)
		if code != tt.code || !strings.Contains(errOut, tt.wantErr) {
			t.Errorf("rego sim %v = %d, stderr %q; want %d and %q", tt.args, code, errOut, tt.code, tt.wantErr)
		}
	}
	code, out, _ = runCmd("sim", "-generate", "tail-at-scale", "-n", "5")
	if code != exitOK || strings.Count(out, "ms\n") != 5 {
		t.Errorf("rego sim -generate tail-at-scale -n 5 = %d:\n%s", code, out)
	}
}
