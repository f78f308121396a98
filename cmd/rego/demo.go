package main

// The demo: a flaky HTTP server on loopback, and the same workload sent through
// rego under three policies, so that a newcomer sees in ten seconds what
// retries and hedges buy and what a timeline looks like.
//
// Ownership: the server owns nothing mutable but a counter for requests that do
// not carry a demo request id; every fault is a pure function of (seed, call,
// attempt), so every policy faces exactly the same failures and slow responses
// on its first attempts and a run is reproducible. The driver's workers write
// disjoint slots of a results slice; the summary reads it after they are done.

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/regoresilience/rego"
	"github.com/regoresilience/rego/budget"
	"github.com/regoresilience/rego/controlplane"
	"github.com/regoresilience/rego/engine"
	"github.com/regoresilience/rego/observe"
	"github.com/regoresilience/rego/policy"
)

// demoConfig is what the demo's flags set.
type demoConfig struct {
	calls       int           // calls per policy
	concurrency int           // calls in flight at once
	failRate    float64       // fraction of requests answered 503
	slowRate    float64       // fraction of requests in the slow tail
	latency     time.Duration // the server's typical latency
	seed        uint64
}

func defaultDemoConfig() demoConfig {
	return demoConfig{calls: 3000, concurrency: 8, failRate: 0.2, slowRate: 0.05,
		latency: 2 * time.Millisecond, seed: 1}
}

func (c demoConfig) validate() error {
	var errs []error
	if c.calls < 1 || c.calls > 1_000_000 {
		errs = append(errs, fmt.Errorf("-n %d: must be in [1, 1000000]", c.calls))
	}
	if c.concurrency < 1 || c.concurrency > 1000 {
		errs = append(errs, fmt.Errorf("-c %d: must be in [1, 1000]", c.concurrency))
	}
	if !(c.failRate >= 0 && c.failRate <= 1) { // also rejects NaN
		errs = append(errs, fmt.Errorf("-fail %v: must be in [0, 1]", c.failRate))
	}
	if !(c.slowRate >= 0 && c.slowRate <= 1) {
		errs = append(errs, fmt.Errorf("-slow %v: must be in [0, 1]", c.slowRate))
	}
	if c.latency <= 0 || c.latency > time.Second {
		errs = append(errs, fmt.Errorf("-latency %v: must be in (0, 1s]", c.latency))
	}
	return errors.Join(errs...)
}

const demoUsage = `Usage: rego demo [-n calls] [-c concurrency] [-fail rate] [-slow rate] [-latency d] [-seed n] [-svg file] [-html file]

Starts a flaky HTTP server on 127.0.0.1, sends the same calls through rego under
three policies and prints, for each, the success rate, the attempts and hedges
it spent and its latency percentiles, one call's timeline, and a chart of the
three latency distributions (-svg and -html write it as a picture too). On a
terminal, a progress line shows on stderr; Ctrl-C prints what was measured so
far.

  demo.NoRetry     one attempt
  demo.Retry       up to 3 attempts, backoff 5ms..50ms (full jitter), 100ms per attempt
  demo.RetryHedge  demo.Retry, and each attempt hedged (up to twice) once it is slower
                   than the key's p90 latency, or at once when it fails

Each call may take 1s in all; each key's retries and hedges may each add up to
half of its calls (a budget: rego's default is 10%).

Every fault depends only on (seed, call, attempt): each policy faces the same
failures, and a run with the same flags is reproducible up to timing.

Flags:
`

// runDemo is the demo command: it parses args, runs the three policies and
// prints the report. When ctx ends (Ctrl-C) it prints what was measured so far.
func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cfg := defaultDemoConfig()
	var svgFile, htmlFile string
	fs := flag.NewFlagSet("rego demo", flag.ContinueOnError)
	fs.SetOutput(stderr) // parse errors; the usage is printed below
	fs.Usage = func() {}
	fs.IntVar(&cfg.calls, "n", cfg.calls, "calls per policy")
	fs.IntVar(&cfg.concurrency, "c", cfg.concurrency, "calls in flight at once")
	fs.Float64Var(&cfg.failRate, "fail", cfg.failRate, "fraction of requests the server answers with 503")
	fs.Float64Var(&cfg.slowRate, "slow", cfg.slowRate, "fraction of requests that take 10-20x the typical latency")
	fs.DurationVar(&cfg.latency, "latency", cfg.latency, "the server's typical latency")
	fs.Uint64Var(&cfg.seed, "seed", cfg.seed, "seed of the server's faults")
	fs.StringVar(&svgFile, "svg", "", "also write the latency CDF chart as an SVG image to this file")
	fs.StringVar(&htmlFile, "html", "", "also write the report and chart as an HTML page to this file")
	usage := func(w io.Writer) {
		fmt.Fprint(w, demoUsage)
		fs.SetOutput(w)
		fs.PrintDefaults()
		fs.SetOutput(stderr)
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			usage(stdout) // asked for: the help is the output
			return exitOK
		}
		usage(stderr)
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "rego demo: unexpected argument %q\n", fs.Arg(0))
		usage(stderr)
		return exitUsage
	}
	if err := cfg.validate(); err != nil {
		fmt.Fprintf(stderr, "rego demo: %v\n", err)
		return exitUsage
	}
	prog := newProgress(stderr)
	rep, err := runScenario(ctx, cfg, prog)
	prog.done()
	if rep != nil && len(rep.rows) > 0 {
		rep.write(stdout)
		if werr := writeCharts(rep.chart(), svgFile, htmlFile, func(w io.Writer) { rep.writeReport(w, false) }); werr != nil {
			fmt.Fprintf(stderr, "rego demo: %v\n", werr)
			return exitFail
		}
	}
	if err != nil {
		if ctx.Err() != nil {
			fmt.Fprintf(stderr, "rego demo: interrupted; the report shows the calls that completed\n")
		} else {
			fmt.Fprintf(stderr, "rego demo: %v\n", err)
		}
		return exitFail
	}
	return exitOK
}

// demoPolicy is one row of the demo.
type demoPolicy struct {
	name   string
	policy policy.Policy
}

// demoPolicies are the three policies compared, in the order they run.
func demoPolicies() []demoPolicy {
	retry := policy.Retry{
		MaxAttempts:    3,
		InitialBackoff: 5 * time.Millisecond,
		MaxBackoff:     50 * time.Millisecond,
		Multiplier:     2,
		Jitter:         policy.JitterFull,
		AttemptTimeout: 100 * time.Millisecond,
	}
	return []demoPolicy{
		{"demo.NoRetry", policy.Policy{Retry: policy.Retry{MaxAttempts: 1}, Timeout: time.Second}},
		{"demo.Retry", policy.Policy{Retry: retry, Timeout: time.Second}},
		{"demo.RetryHedge", policy.Policy{Retry: retry, Timeout: time.Second, Hedge: policy.Hedge{
			// Two hedges: a failed primary fires the first at once (as gRPC
			// does), so one hedge alone would often leave nothing to race a
			// slow answer.
			MaxHedges:  2,
			Percentile: 90,                    // hedge attempts slower than 90% of recent ones
			Delay:      10 * time.Millisecond, // until the key has seen MinSamples attempts
			MinSamples: 100,
			MinDelay:   time.Millisecond,
		}}},
	}
}

// Demo budgets: each key may spend retries (and, separately, hedges) worth
// half of its calls, plus 10 a second. rego's default budget (10%) is sized
// for production, where a backend failing a fifth of its calls is an outage to
// shed load from, not a demo of what retries can do.
const (
	demoBudgetPercent = 50
	demoBudgetFloor   = 10
)

func demoBudget() budget.Budget {
	b, err := budget.NewRatio(budget.RatioConfig{Percent: demoBudgetPercent,
		MinPerSecond: demoBudgetFloor, Window: 10 * time.Second})
	if err != nil {
		// The configuration is a constant within the documented ranges.
		panic("rego demo: budget: " + err.Error())
	}
	return b
}

// runScenario starts the server and an executor, runs every policy in turn and
// returns the report. It returns only once every goroutine it started is gone.
// When ctx ends it returns the report so far (the interrupted policy's row
// holds the calls that completed) with ctx's error. prog may be nil.
func runScenario(ctx context.Context, cfg demoConfig, prog *progress) (*demoReport, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	srv, err := startFlakyServer(cfg)
	if err != nil {
		return nil, err
	}
	transport := &http.Transport{
		Proxy:               nil, // loopback only: never a proxy from the environment
		MaxIdleConnsPerHost: 2*cfg.concurrency + 4,
		IdleConnTimeout:     30 * time.Second,
	}
	defer func() {
		// The client's idle connections first: the server's Shutdown counts a
		// connection that never carried a request as busy for its first 5s.
		// Then the server, which closes whatever a late body read put back in
		// the pool, and the pool once more.
		transport.CloseIdleConnections()
		srv.close()
		transport.CloseIdleConnections()
	}()

	policies := demoPolicies()
	m := make(map[string]policy.Policy, len(policies))
	for _, p := range policies {
		m[p.name] = p.policy
	}
	provider := controlplane.NewStatic(m)
	defer provider.Close()
	exec, err := rego.NewExecutor(
		engine.WithProvider(provider),
		engine.WithKeyBudgets(demoBudget, demoBudget),
	)
	if err != nil {
		return nil, err
	}
	defer exec.Close()

	c := newDemoClient(&http.Client{Transport: transport}, srv.url)

	rep := &demoReport{cfg: cfg, url: srv.url}
	for _, p := range policies {
		row, err := runPolicyLoad(ctx, exec, c, p.name, cfg, prog)
		if row.calls > 0 {
			rep.rows = append(rep.rows, row)
		}
		if err != nil {
			rep.interrupted = true
			return rep, err
		}
	}
	return rep, nil
}

// runPolicyLoad sends cfg.calls calls under key, cfg.concurrency at a time, and
// waits until every attempt rego started (hedge losers included) has returned.
// When ctx ends it stops, and the row it returns holds the calls that
// completed before (a call cut short by the interruption is left out).
func runPolicyLoad(ctx context.Context, exec *rego.Executor, c *demoClient, name string, cfg demoConfig, prog *progress) (policyRow, error) {
	key := rego.ParseKey(name)
	results := make([]*observe.Timeline, cfg.calls)
	next := make(chan int)
	var wg sync.WaitGroup
	var completed atomic.Int64
	cut := make([]bool, cfg.calls) // cut[i]: call i was cut short by ctx's end; written by its worker
	for range cfg.concurrency {
		wg.Go(func() {
			for i := range next {
				tl, _ := exec.DoWithTimeline(ctx, key, func(ctx context.Context) error {
					return c.get(ctx, i)
				})
				// A call that failed once ctx had ended was cut short by the
				// interruption: not a measurement. Its attempts still count
				// for the wait below.
				cut[i] = ctx.Err() != nil && tl != nil && tl.FinalErr != nil
				results[i] = tl // the error is tl.FinalErr
				prog.update(fmt.Sprintf("rego demo: %s %d/%d calls", name, completed.Add(1), cfg.calls))
			}
		})
	}
	var err error
feed:
	for i := range cfg.calls {
		select {
		case next <- i:
		case <-ctx.Done():
			err = ctx.Err()
			break feed
		}
	}
	close(next)
	wg.Wait()

	// A hedge that lost its race may still be unwinding its HTTP request after
	// its call returned; the timelines say how many attempts were started.
	started := 0
	for _, tl := range results {
		if tl != nil {
			started += len(tl.Attempts)
		}
	}
	c.waitAttempts(started)
	if err != nil {
		kept := results[:0:0]
		for i, tl := range results {
			if tl != nil && !cut[i] {
				kept = append(kept, tl)
			}
		}
		return summarize(name, kept), err
	}
	return summarize(name, results), nil
}

// demoRequestHeader carries "call/attempt" to the server, which derives the
// request's fault from it.
const demoRequestHeader = "X-Demo-Request"

// demoClient is the op's side: real HTTP GETs to the flaky server. It counts the
// attempts that have returned so the driver can wait for stragglers.
type demoClient struct {
	http *http.Client
	url  string

	mu       sync.Mutex
	cond     *sync.Cond // signalled when returned grows; its Locker is &mu
	returned int        // guarded by mu; attempts that have returned, over the client's life
	expected int        // guarded by mu; attempts started, as told to waitAttempts
}

func newDemoClient(hc *http.Client, url string) *demoClient {
	c := &demoClient{http: hc, url: url}
	c.cond = sync.NewCond(&c.mu)
	return c
}

// get is the operation rego runs: one GET under the attempt's context. A 5xx is
// worth retrying, a 4xx is not (rego.Permanent), and a transport error (refused
// connection, the attempt's timeout) is left to the default classifier.
func (c *demoClient) get(ctx context.Context, call int) error {
	defer c.attemptReturned()
	attempt := 0
	if info, ok := rego.AttemptFromContext(ctx); ok {
		attempt = info.Index
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.url, nil)
	if err != nil {
		return rego.Permanent(err)
	}
	req.Header.Set(demoRequestHeader, strconv.Itoa(call)+"/"+strconv.Itoa(attempt))
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	// Drain the body so the connection goes back to the pool.
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return checkStatus(resp.StatusCode, resp.Status)
}

func (c *demoClient) attemptReturned() {
	c.mu.Lock()
	c.returned++
	c.cond.Broadcast()
	c.mu.Unlock()
}

// waitAttempts is told that n more attempts were started (by calls that have
// all returned) and waits until every attempt started so far has returned.
func (c *demoClient) waitAttempts(n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.expected += n
	for c.returned < c.expected {
		c.cond.Wait()
	}
}

// StatusError is an HTTP answer the demo's op treats as a failure.
type StatusError struct {
	Code   int
	Status string // e.g. "503 Service Unavailable"
}

func (e *StatusError) Error() string { return "server answered " + e.Status }

// checkStatus maps an HTTP status to the op's result: nil below 400, a
// retryable *StatusError for 5xx, and a permanent one for 4xx, which would
// fail the same way however often it was sent.
func checkStatus(code int, status string) error {
	if status == "" {
		status = strconv.Itoa(code)
	}
	switch {
	case code < 400:
		return nil
	case code >= 500:
		return &StatusError{Code: code, Status: status}
	default:
		return rego.Permanent(&StatusError{Code: code, Status: status})
	}
}
