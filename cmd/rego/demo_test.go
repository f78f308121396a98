package main

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/regoresilience/rego/classify"
	"github.com/regoresilience/rego/observe"
	"github.com/regoresilience/rego/policy"
)

// testDemoConfig is a small, fast demo: 200 calls per policy against a server
// that fails 30% of requests.
func testDemoConfig() demoConfig {
	cfg := defaultDemoConfig()
	cfg.calls = 200
	cfg.failRate = 0.3
	cfg.latency = time.Millisecond
	cfg.seed = 7
	return cfg
}

// TestDemoCommand verifies that "rego demo" prints a table with the three
// policies, the column headers and an example timeline, and exits 0.
func TestDemoCommand(t *testing.T) {
	code, out, errOut := runCmd("demo", "-n", "200", "-fail", "0.3", "-latency", "1ms", "-seed", "7")
	if code != exitOK {
		t.Fatalf("run(demo) = %d, stderr:\n%s", code, errOut)
	}
	for _, want := range []string{"policy", "success", "attempts/call", "hedges", "p50", "p99", "p99.9",
		"needed a retry", "backoff"} {
		if !strings.Contains(out, want) {
			t.Errorf("demo output lacks %q:\n%s", want, out)
		}
	}
	rows := parseTable(t, out)
	for _, p := range demoPolicies() {
		cols, ok := rows[p.name]
		if !ok {
			t.Errorf("demo output has no row for %s:\n%s", p.name, out)
			continue
		}
		if cols[1] != "200" {
			t.Errorf("%s: calls column = %q, want 200", p.name, cols[1])
		}
	}
	if t.Failed() {
		return
	}
	noRetry, retry := successOf(t, rows["demo.NoRetry"]), successOf(t, rows["demo.Retry"])
	if retry <= noRetry {
		t.Errorf("success: demo.Retry %.1f%% <= demo.NoRetry %.1f%%; retries should help", retry, noRetry)
	}
}

// parseTable returns the table's rows by policy name, split on spaces.
func parseTable(t *testing.T, out string) map[string][]string {
	t.Helper()
	rows := make(map[string][]string)
	for line := range strings.Lines(out) {
		f := strings.Fields(line)
		if len(f) == 9 && strings.HasPrefix(f[0], "demo.") {
			rows[f[0]] = f
		}
	}
	return rows
}

func successOf(t *testing.T, cols []string) float64 {
	t.Helper()
	v, err := strconv.ParseFloat(strings.TrimSuffix(cols[2], "%"), 64)
	if err != nil {
		t.Fatalf("success column %q: %v", cols[2], err)
	}
	return v
}

// TestDemoScenario verifies the numbers behind the table against what the
// server's fault schedule says they must be. Bounds are loose so a loaded
// machine (attempts timing out) cannot make it flake.
func TestDemoScenario(t *testing.T) {
	cfg := testDemoConfig()
	rep, err := runScenario(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.rows) != 3 {
		t.Fatalf("got %d rows, want 3", len(rep.rows))
	}
	noRetry, retry, hedged := rep.rows[0], rep.rows[1], rep.rows[2]

	// The reference: with one attempt, call i succeeds iff the server's fault
	// for (i, 0) is not a failure.
	want := 0
	for i := range cfg.calls {
		if !cfg.fault(uint64(i), 0).fail {
			want++
		}
	}
	if noRetry.ok > want || noRetry.ok < want*9/10 {
		t.Errorf("demo.NoRetry: %d calls succeeded, want %d (the server's schedule), or a few less under load", noRetry.ok, want)
	}
	if noRetry.attempts != cfg.calls || noRetry.hedges != 0 {
		t.Errorf("demo.NoRetry: %d attempts, %d hedges; want %d, 0", noRetry.attempts, noRetry.hedges, cfg.calls)
	}
	// With 3 attempts at a 30% failure rate about 97% succeed.
	for _, row := range []policyRow{retry, hedged} {
		if row.successRate() < 0.9 || row.ok <= noRetry.ok {
			t.Errorf("%s: success %.1f%%, want >= 90%% and above demo.NoRetry's %.1f%%",
				row.name, 100*row.successRate(), 100*noRetry.successRate())
		}
		if row.attemptsPerCall() <= 1 {
			t.Errorf("%s: %.2f attempts per call, want > 1", row.name, row.attemptsPerCall())
		}
		if row.p50 > row.p99 || row.p99 > row.p999 {
			t.Errorf("%s: percentiles out of order: p50 %v, p99 %v, p99.9 %v", row.name, row.p50, row.p99, row.p999)
		}
	}
	// A retried call is certain among 200 at 30% failures (about 60 of them);
	// with hedges a round rarely fails as a whole, so it may have none.
	if retry.example == nil {
		t.Errorf("demo.Retry: no example of a call that needed a retry")
	}
	if retry.hedges != 0 || hedged.hedges == 0 {
		t.Errorf("hedges: demo.Retry %d, demo.RetryHedge %d; want 0 and > 0", retry.hedges, hedged.hedges)
	}
}

// TestDemoFlags verifies that bad flags are usage errors and -h is not.
func TestDemoFlags(t *testing.T) {
	tests := []struct {
		args    []string
		code    int
		wantErr string
	}{
		{[]string{"-n", "0"}, exitUsage, "-n 0"},
		{[]string{"-c", "-1"}, exitUsage, "-c -1"},
		{[]string{"-fail", "1.5"}, exitUsage, "-fail 1.5"},
		{[]string{"-fail", "NaN"}, exitUsage, "-fail NaN"},
		{[]string{"-slow", "-0.1"}, exitUsage, "-slow -0.1"},
		{[]string{"-latency", "0s"}, exitUsage, "-latency 0s"},
		{[]string{"-n", "ten"}, exitUsage, "invalid value"},
		{[]string{"-bogus"}, exitUsage, "not defined"},
		{[]string{"extra"}, exitUsage, `unexpected argument "extra"`},
	}
	for _, tt := range tests {
		code, out, errOut := runCmd(append([]string{"demo"}, tt.args...)...)
		if code != tt.code || !strings.Contains(errOut, tt.wantErr) {
			t.Errorf("rego demo %v = %d, stderr %q; want %d and %q", tt.args, code, errOut, tt.code, tt.wantErr)
		}
		if out != "" {
			t.Errorf("rego demo %v wrote %q to stdout; want nothing", tt.args, out)
		}
	}
}

// TestDemoHelp verifies that rego demo -h prints the help on stdout, as the
// other help texts are: it was asked for, it is not an error.
func TestDemoHelp(t *testing.T) {
	for _, args := range [][]string{{"demo", "-h"}, {"demo", "-help"}, {"help", "demo"}} {
		code, out, errOut := runCmd(args...)
		if code != exitOK || errOut != "" {
			t.Errorf("rego %v = %d, stderr %q; want %d and nothing", args, code, errOut, exitOK)
		}
		for _, want := range []string{"Usage: rego demo", "-n int", "-svg", "-html"} {
			if !strings.Contains(out, want) {
				t.Errorf("rego %v stdout lacks %q:\n%s", args, want, out)
			}
		}
	}
}

// TestFaultSchedule verifies that faults are a pure function of (seed, call,
// attempt) and follow the configured rates.
func TestFaultSchedule(t *testing.T) {
	cfg := defaultDemoConfig()
	cfg.failRate, cfg.slowRate = 0.25, 0.05
	const n = 20000
	fails, slows := 0, 0
	for i := range uint64(n) {
		f := cfg.fault(i, 0)
		if f != cfg.fault(i, 0) {
			t.Fatalf("fault(%d, 0) differs between two calls", i)
		}
		if f.fail {
			fails++
		}
		lo, hi := cfg.latency/2, cfg.latency*3/2
		if f.slow {
			slows++
			lo, hi = 10*cfg.latency, 20*cfg.latency
		}
		if f.delay < lo || f.delay > hi {
			t.Fatalf("fault(%d, 0).delay = %v, want in [%v, %v]", i, f.delay, lo, hi)
		}
	}
	// Deterministic for this seed; the bounds are 4+ standard deviations wide.
	if got := float64(fails) / n; got < 0.235 || got > 0.265 {
		t.Errorf("failure rate %.3f, want about 0.25", got)
	}
	if got := float64(slows) / n; got < 0.043 || got > 0.057 {
		t.Errorf("slow rate %.3f, want about 0.05", got)
	}

	// Another attempt of the same call, or another seed, draws again.
	same := 0
	other := cfg
	other.seed++
	for i := range uint64(1000) {
		if cfg.fault(i, 0) == cfg.fault(i, 1) {
			same++
		}
		if cfg.fault(i, 0) == other.fault(i, 0) {
			same++
		}
	}
	if same > 0 {
		t.Errorf("%d faults repeated across attempts or seeds; want fresh draws", same)
	}

	cfg.failRate, cfg.slowRate = 0, 0
	for i := range uint64(1000) {
		if f := cfg.fault(i, 3); f.fail || f.slow {
			t.Fatalf("rates 0: fault(%d, 3) = %+v", i, f)
		}
	}
}

// TestParseRequestID verifies the "call/attempt" header parser.
func TestParseRequestID(t *testing.T) {
	tests := []struct {
		in            string
		call, attempt uint64
		ok            bool
	}{
		{"12/3", 12, 3, true},
		{"0/0", 0, 0, true},
		{"", 0, 0, false},
		{"12", 0, 0, false},
		{"a/1", 0, 0, false},
		{"1/-1", 0, 0, false},
		{"1/2/3", 0, 0, false},
		{"99999999999999999999/1", 0, 0, false},
	}
	for _, tt := range tests {
		call, attempt, ok := parseRequestID(tt.in)
		if ok != tt.ok || (ok && (call != tt.call || attempt != tt.attempt)) {
			t.Errorf("parseRequestID(%q) = %d, %d, %v; want %d, %d, %v", tt.in, call, attempt, ok, tt.call, tt.attempt, tt.ok)
		}
	}
}

// TestCheckStatus verifies the op's mapping of HTTP statuses: 5xx retryable,
// 4xx permanent, both reachable as *StatusError.
func TestCheckStatus(t *testing.T) {
	if err := checkStatus(http.StatusOK, "200 OK"); err != nil {
		t.Errorf("200: %v, want nil", err)
	}
	for _, tt := range []struct {
		code      int
		permanent bool
	}{{503, false}, {500, false}, {404, true}, {429, true}} {
		err := checkStatus(tt.code, "")
		var se *StatusError
		if !errors.As(err, &se) || se.Code != tt.code {
			t.Errorf("%d: %v, want a *StatusError with code %d", tt.code, err, tt.code)
			continue
		}
		if got := classify.IsPermanent(err); got != tt.permanent {
			t.Errorf("%d: permanent = %v, want %v", tt.code, got, tt.permanent)
		}
		want := classify.Retryable
		if tt.permanent {
			want = classify.Abort
		}
		if v := classify.Default.Classify(context.Background(), err); v.Outcome != want {
			t.Errorf("%d: default classifier says %v, want %v", tt.code, v.Outcome, want)
		}
	}
}

// TestFlakyServerAnonymous verifies that a request without a demo request id
// (curl, a browser) is served too.
func TestFlakyServerAnonymous(t *testing.T) {
	cfg := testDemoConfig()
	cfg.failRate, cfg.slowRate = 0, 0
	srv, err := startFlakyServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.close()
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Get(srv.url)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || string(body) != "ok\n" {
		t.Errorf("GET = %d %q, want 200 \"ok\\n\"", resp.StatusCode, body)
	}
}

// TestSummarize verifies the row computed from timelines: attempts, hedges,
// budget denials, the example and nearest-rank percentiles.
func TestSummarize(t *testing.T) {
	t0 := time.Unix(0, 0)
	call := func(d time.Duration, attempts []observe.AttemptRecord, events ...observe.Event) *observe.Timeline {
		tl := &observe.Timeline{Key: policy.ParseKey("demo.X"), Start: t0, End: t0.Add(d), Attempts: attempts, Events: events}
		if n := len(attempts); n == 0 || attempts[n-1].Outcome != classify.Success {
			tl.FinalErr = errors.New("failed")
		}
		return tl
	}
	ok := observe.AttemptRecord{Index: 0, Outcome: classify.Success}
	bad := observe.AttemptRecord{Index: 0, Outcome: classify.Retryable}
	retryOK := observe.AttemptRecord{Index: 1, Outcome: classify.Success}
	hedge := observe.AttemptRecord{Index: 1, Hedge: true, Outcome: classify.Success}
	retried := call(5*time.Millisecond, []observe.AttemptRecord{bad, retryOK})
	lost := observe.AttemptRecord{Index: 0, Outcome: classify.Retryable, Canceled: true}
	hedgeWon := call(4*time.Millisecond, []observe.AttemptRecord{lost, hedge})
	tls := []*observe.Timeline{
		call(1*time.Millisecond, []observe.AttemptRecord{ok}),
		call(2*time.Millisecond, []observe.AttemptRecord{bad, hedge}), // hedged, not retried
		retried,
		hedgeWon,
		call(3*time.Millisecond, []observe.AttemptRecord{bad},
			observe.Event{Kind: observe.EventBudgetDenied, Attempt: 1}),
		nil, // a call that returned no timeline counts as a failed call
	}
	row := summarize("demo.X", tls)
	if row.calls != 6 || row.ok != 4 || row.attempts != 8 || row.hedges != 2 || row.denied != 1 {
		t.Errorf("row = %+v; want calls 6, ok 4, attempts 8, hedges 2, denied 1", row)
	}
	if row.example != retried {
		t.Errorf("example = %v, want the retried call", row.example)
	}
	if row.hedgeWin != hedgeWon {
		t.Errorf("hedgeWin = %v, want the call whose hedge beat a cancelled attempt", row.hedgeWin)
	}
	// Latencies 1, 2, 3, 4, 5ms (the nil timeline has none): nearest rank.
	if row.p50 != 3*time.Millisecond || row.p99 != 5*time.Millisecond || row.p999 != 5*time.Millisecond {
		t.Errorf("p50 %v, p99 %v, p99.9 %v; want 3ms, 5ms, 5ms", row.p50, row.p99, row.p999)
	}
	if got := quantile(nil, 50); got != 0 {
		t.Errorf("quantile(nil) = %v, want 0", got)
	}
}

// TestWaitAttempts verifies that the driver's wait for straggling attempts
// counts across policies: a second wait needs the second batch too.
func TestWaitAttempts(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newDemoClient(nil, "")
		c.attemptReturned()
		c.attemptReturned()
		c.waitAttempts(2) // both returned: does not block

		done := make(chan struct{})
		go func() {
			c.waitAttempts(1) // a straggler of the next batch is still running
			close(done)
		}()
		synctest.Wait()
		select {
		case <-done:
			t.Fatal("waitAttempts(1) returned before the third attempt did")
		default:
		}
		c.attemptReturned()
		<-done
	})
}
