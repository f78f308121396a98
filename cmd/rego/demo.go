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
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
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

const demoUsage = `Usage: rego demo [-n calls] [-c concurrency] [-fail rate] [-slow rate] [-latency d] [-seed n]

Starts a flaky HTTP server on 127.0.0.1, sends the same calls through rego under
three policies and prints, for each, the success rate, the attempts and hedges
it spent and its latency percentiles, then one call's timeline.

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
// prints the report.
func runDemo(args []string, stdout, stderr io.Writer) int {
	cfg := defaultDemoConfig()
	fs := flag.NewFlagSet("rego demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), demoUsage)
		fs.PrintDefaults()
	}
	fs.IntVar(&cfg.calls, "n", cfg.calls, "calls per policy")
	fs.IntVar(&cfg.concurrency, "c", cfg.concurrency, "calls in flight at once")
	fs.Float64Var(&cfg.failRate, "fail", cfg.failRate, "fraction of requests the server answers with 503")
	fs.Float64Var(&cfg.slowRate, "slow", cfg.slowRate, "fraction of requests that take 10-20x the typical latency")
	fs.DurationVar(&cfg.latency, "latency", cfg.latency, "the server's typical latency")
	fs.Uint64Var(&cfg.seed, "seed", cfg.seed, "seed of the server's faults")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "rego demo: unexpected argument %q\n", fs.Arg(0))
		fs.Usage()
		return exitUsage
	}
	if err := cfg.validate(); err != nil {
		fmt.Fprintf(stderr, "rego demo: %v\n", err)
		return exitUsage
	}
	rep, err := runScenario(context.Background(), cfg)
	if err != nil {
		fmt.Fprintf(stderr, "rego demo: %v\n", err)
		return exitFail
	}
	rep.write(stdout)
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
func runScenario(ctx context.Context, cfg demoConfig) (*demoReport, error) {
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
		row, err := runPolicyLoad(ctx, exec, c, p.name, cfg)
		if err != nil {
			return nil, err
		}
		rep.rows = append(rep.rows, row)
	}
	return rep, nil
}

// runPolicyLoad sends cfg.calls calls under key, cfg.concurrency at a time, and
// waits until every attempt rego started (hedge losers included) has returned.
func runPolicyLoad(ctx context.Context, exec *rego.Executor, c *demoClient, name string, cfg demoConfig) (policyRow, error) {
	key := rego.ParseKey(name)
	results := make([]*observe.Timeline, cfg.calls)
	next := make(chan int)
	var wg sync.WaitGroup
	for range cfg.concurrency {
		wg.Go(func() {
			for i := range next {
				tl, _ := exec.DoWithTimeline(ctx, key, func(ctx context.Context) error {
					return c.get(ctx, i)
				})
				results[i] = tl // the error is tl.FinalErr
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
		return policyRow{}, err
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

// flakyServer is the demo's backend: a real HTTP server on 127.0.0.1.
type flakyServer struct {
	cfg    demoConfig
	url    string
	srv    *http.Server
	served chan struct{} // closed when Serve has returned
	anon   atomic.Uint64 // ids for requests that carry no demo request id
}

func startFlakyServer(cfg demoConfig) (*flakyServer, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("starting the flaky server: %w", err)
	}
	s := &flakyServer{cfg: cfg, url: "http://" + ln.Addr().String() + "/", served: make(chan struct{})}
	s.srv = &http.Server{Handler: s, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		defer close(s.served)
		_ = s.srv.Serve(ln) // returns http.ErrServerClosed after close
	}()
	return s, nil
}

// close stops the server and waits for its handlers and connections. A
// connection still busy after a second (one dialed but never used, which
// Shutdown leaves alone for 5s) is closed outright.
func (s *flakyServer) close() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := s.srv.Shutdown(ctx); err != nil {
		s.srv.Close()
	}
	<-s.served
}

func (s *flakyServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	call, attempt, ok := parseRequestID(r.Header.Get(demoRequestHeader))
	if !ok {
		// Not a demo client (curl, a browser): a fault of its own, never repeated.
		call, attempt = 1<<40+s.anon.Add(1), 0
	}
	f := s.cfg.fault(call, attempt)
	t := time.NewTimer(f.delay)
	select {
	case <-t.C:
	case <-r.Context().Done(): // the client gave up (a lost hedge, a timeout)
		t.Stop()
		return
	}
	if f.fail {
		http.Error(w, "flaky: try again", http.StatusServiceUnavailable)
		return
	}
	io.WriteString(w, "ok\n")
}

// parseRequestID parses "call/attempt".
func parseRequestID(s string) (call, attempt uint64, ok bool) {
	a, b, found := strings.Cut(s, "/")
	if !found {
		return 0, 0, false
	}
	call, err1 := strconv.ParseUint(a, 10, 40)
	attempt, err2 := strconv.ParseUint(b, 10, 16)
	return call, attempt, err1 == nil && err2 == nil
}

// fault is what the server does to one request.
type fault struct {
	delay time.Duration // before answering
	fail  bool          // answer 503
	slow  bool          // delay is in the slow tail
}

// fault returns the fault of one attempt of one call: a pure function of the
// seed, the call and the attempt. A typical request takes 0.5-1.5x latency, a
// slow one 10-20x; failing and being slow are independent.
func (c demoConfig) fault(call, attempt uint64) fault {
	r := rand.New(rand.NewPCG(splitmix(c.seed), splitmix(call<<16|attempt)))
	var f fault
	f.fail = r.Float64() < c.failRate
	f.slow = r.Float64() < c.slowRate
	scale := 0.5 + r.Float64() // typical: 0.5x..1.5x
	if f.slow {
		scale = 10 + 10*r.Float64()
	}
	f.delay = time.Duration(scale * float64(c.latency))
	return f
}

// splitmix is SplitMix64's finalizer: nearby inputs give unrelated seeds.
func splitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// policyRow is one policy's results.
type policyRow struct {
	name             string
	calls, ok        int
	attempts, hedges int
	denied           int // calls in which a budget refused a retry or a hedge
	p50, p99, p999   time.Duration
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
	cfg  demoConfig
	url  string
	rows []policyRow
}

func (r *demoReport) write(w io.Writer) {
	c := r.cfg
	fmt.Fprintf(w, "rego demo: %d calls per policy, %d at a time, against a flaky server at %s\n", c.calls, c.concurrency, r.url)
	fmt.Fprintf(w, "server: %s of requests fail with 503, %s take 10-20x the typical %v (seed %d)\n\n",
		percent(c.failRate), percent(c.slowRate), c.latency, c.seed)

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
