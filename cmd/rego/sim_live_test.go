package main

import (
	"context"
	"flag"
	"io"
	"math"
	"net"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/regoresilience/rego"
	"github.com/regoresilience/rego/policy"
)

var liveFlag = flag.Bool("live", false, "run TestSimMatchesLive: replay a trace live against a loopback server (real time, ~10s)")

// TestSimMatchesLive verifies the simulation against the real thing: it
// recommends a policy for a trace on virtual time, then replays the same
// trace live, through the same policy, against an HTTP server on loopback
// that sleeps each attempt's sampled latency (the same sample for the same
// call and attempt), and compares p99.9 and extra load.
//
// Live timing on a shared machine is noisy (loopback overhead, timers firing
// late, CPU steal), so the test runs only with -live:
//
//	go test ./cmd/rego -run TestSimMatchesLive -live -v
func TestSimMatchesLive(t *testing.T) {
	if !*liveFlag {
		t.Skip("needs -live: real time on loopback")
	}
	const (
		calls       = 4000
		concurrency = 16
		seed        = 1
		scale       = 4
	)
	tr := smallTrace(t, calls)
	for i := range tr.samples { // 4-40ms and 0.8-4s: loopback's jitter is small beside it
		tr.samples[i].lat *= scale
	}
	grid := candidates(tr)
	var results []simResult
	start := time.Now()
	for _, c := range grid {
		r, err := replay(context.Background(), tr, c, concurrency, seed)
		if err != nil {
			t.Fatal(err)
		}
		r.slowLoad = r.extraLoad()
		if c.policy.Hedge.MaxHedges > 0 {
			slow, err := replayStretched(context.Background(), tr, c, concurrency, seed, slowStretch)
			if err != nil {
				t.Fatal(err)
			}
			r.slowLoad = slow.extraLoad()
		}
		results = append(results, r)
	}
	best := results[recommend(results, 0.05)]
	t.Logf("simulated %d candidates x %d calls in %v; recommended %s", len(grid), calls, time.Since(start), best.cand.name)

	live := replayLive(t, tr, best.cand, concurrency, seed)
	rel := func(sim, live float64) float64 { return (sim - live) / live }
	t.Logf("p99 sim %v live %v; p99.9: sim %v live %v (%+.1f%%); extra load: sim %.2f%% live %.2f%% (%+.1f%%); p50 sim %v live %v",
		best.p99, live.p99, best.p999, live.p999, 100*rel(float64(best.p999), float64(live.p999)),
		100*best.extraLoad(), 100*live.extraLoad(), 100*rel(best.extraLoad(), live.extraLoad()), best.p50, live.p50)
	if d := rel(float64(best.p999), float64(live.p999)); d < -0.1 || d > 0.1 {
		t.Errorf("p99.9: simulated %v, live %v: more than 10%% apart", best.p999, live.p999)
	}
	if d := rel(best.extraLoad(), live.extraLoad()); d < -0.1 || d > 0.1 {
		t.Errorf("extra load: simulated %.2f%%, live %.2f%%: more than 10%% apart", 100*best.extraLoad(), 100*live.extraLoad())
	}
}

// replayLive runs tr through a real-clock engine under c against a loopback
// server that sleeps each attempt's sample.
func replayLive(t *testing.T, tr *trace, c candidate, concurrency int, seed uint64) simResult {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var overhead atomic.Int64 // ns; set before the first call, read by the handler (across TCP: atomic)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		call, attempt, ok := parseRequestID(r.Header.Get(demoRequestHeader))
		if !ok {
			return // an overhead probe: answer at once
		}
		s := tr.attempt(seed, int(call), int(attempt))
		timer := time.NewTimer(s.lat - time.Duration(overhead.Load()))
		defer timer.Stop()
		select {
		case <-timer.C:
		case <-r.Context().Done():
			return
		}
		switch s.out {
		case outcomeRetryable:
			w.WriteHeader(http.StatusServiceUnavailable)
		case outcomePermanent:
			w.WriteHeader(http.StatusBadRequest)
		}
	})}
	served := make(chan struct{})
	go func() { defer close(served); _ = srv.Serve(ln) }()
	transport := &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 4 * concurrency}
	t.Cleanup(func() {
		transport.CloseIdleConnections()
		srv.Close()
		<-served
		transport.CloseIdleConnections()
	})
	url := "http://" + ln.Addr().String() + "/"
	client := &http.Client{Transport: transport}

	// The trace is what a client saw, loopback included: the server sleeps
	// each sample less the median cost of a request that does not sleep,
	// measured at the same concurrency.
	{
		const probes = 50
		lat := make([]time.Duration, 0, probes*concurrency)
		var mu sync.Mutex
		var wg sync.WaitGroup
		for range concurrency {
			wg.Go(func() {
				for range probes {
					start := time.Now()
					resp, err := client.Get(url)
					if err != nil {
						continue
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					mu.Lock()
					lat = append(lat, time.Since(start))
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		slices.Sort(lat)
		overhead.Store(int64(quantile(lat, 50)))
		t.Logf("loopback request overhead: p50 %v, p99 %v", quantile(lat, 50), quantile(lat, 99))
	}

	exec, err := c.newExecutor()
	if err != nil {
		t.Fatal(err)
	}
	defer exec.Close()

	var running sync.WaitGroup // attempts, hedge losers included
	return replayCalls(exec, c, len(tr.samples), concurrency, running.Wait, func(ctx context.Context, i, a int) error {
		running.Add(1)
		defer running.Done()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return rego.Permanent(err)
		}
		req.Header.Set(demoRequestHeader, strconv.Itoa(i)+"/"+strconv.Itoa(a))
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return checkStatus(resp.StatusCode, resp.Status)
	})
}

// TestSimMatchesSynctest checks the virtual-time driver against the Go
// runtime's own fake clock: the same trace and candidates replayed by the
// engine on its default (system) clock inside a testing/synctest bubble,
// where time advances exactly when every goroutine is durably blocked. It
// tests the settle loop's heuristic against the exact answer, with none of a
// live run's machine noise.
//
// The simulation's clock implements scheduler.PollingClock, so the timer
// wheel times a round's first hedge as it does on the system clock: from its
// next tick. The two still differ by a hedge or two in 3000 calls, because
// the bubble's engine runs its goroutines in whatever order the runtime
// picks: tolerance says how far each candidate may be apart, 5% for hedging
// candidates (measured: p99.9 identical, extra load within 2%) and 2% for the
// retry candidate, whose p99.9 differs by a fraction of a percent from run to
// run.
func TestSimMatchesSynctest(t *testing.T) {
	const calls, concurrency, seed = 3000, 16, 1
	tr := smallTrace(t, calls)
	one := policy.Retry{MaxAttempts: 1}
	for _, tt := range []struct {
		c         candidate
		tolerance float64
		scale     time.Duration // multiplies the trace's latencies; 0 = 1
	}{
		{candidate{name: "hedge 9ms x2", budgets: true, policy: policy.Policy{Retry: one,
			Hedge: policy.Hedge{MaxHedges: 2, Delay: 9 * time.Millisecond}}}, 0.05, 0},
		{candidate{name: "retry, 50ms attempt timeout", policy: policy.Policy{Retry: policy.Retry{MaxAttempts: 3,
			InitialBackoff: time.Millisecond, MaxBackoff: 10 * time.Millisecond, AttemptTimeout: 50 * time.Millisecond}}}, 0.02, 0},
		{candidate{name: "hedge p95 x1", budgets: true, policy: policy.Policy{Retry: one,
			Hedge: policy.Hedge{MaxHedges: 1, Percentile: 95, Delay: 10 * time.Millisecond}}}, 0.05, 0},
		// What TestSimMatchesLive's grid recommends: a learned delay near the
		// top of the bulk.
		{candidate{name: "hedge p99 x2, 4x slower trace", budgets: true, policy: policy.Policy{
			Retry: policy.Retry{MaxAttempts: 3, InitialBackoff: 22 * time.Millisecond, MaxBackoff: 440 * time.Millisecond},
			Hedge: policy.Hedge{MaxHedges: 2, Percentile: 99, Delay: 600 * time.Millisecond}}}, 0.05, 4},
	} {
		c := tt.c
		tr := tr
		if tt.scale > 0 {
			tr = &trace{samples: slices.Clone(tr.samples)}
			for i := range tr.samples {
				tr.samples[i].lat *= tt.scale
			}
		}
		sim, err := replay(context.Background(), tr, c, concurrency, seed)
		if err != nil {
			t.Fatal(err)
		}
		var bub simResult
		synctest.Test(t, func(t *testing.T) { bub = replayBubble(t, tr, c, concurrency, seed) })
		t.Logf("%s: p99.9 sim %v bubble %v; extra load sim %.2f%% bubble %.2f%%; p50 %v / %v",
			c.name, sim.p999, bub.p999, 100*sim.extraLoad(), 100*bub.extraLoad(), sim.p50, bub.p50)
		if d := float64(sim.p999-bub.p999) / float64(bub.p999); math.Abs(d) > max(tt.tolerance, 0.05) {
			t.Errorf("%s: p99.9 simulated %v, in the bubble %v: more than %.0f%% apart", c.name, sim.p999, bub.p999, 100*max(tt.tolerance, 0.05))
		}
		if d := (sim.extraLoad() - bub.extraLoad()) / max(bub.extraLoad(), 1e-3); math.Abs(d) > tt.tolerance {
			t.Errorf("%s: extra load simulated %.2f%%, in the bubble %.2f%%: more than %.0f%% apart",
				c.name, 100*sim.extraLoad(), 100*bub.extraLoad(), 100*tt.tolerance)
		}
	}
}

// replayBubble replays tr under c with the engine on the system clock; run
// inside a synctest bubble, that clock is the bubble's.
func replayBubble(t *testing.T, tr *trace, c candidate, concurrency int, seed uint64) simResult {
	exec, err := c.newExecutor()
	if err != nil {
		t.Fatal(err)
	}
	defer exec.Close()
	// Hedges that lost return on their cancelled context: synctest.Wait
	// waits for them.
	return replayCalls(exec, c, len(tr.samples), concurrency, synctest.Wait, func(ctx context.Context, i, a int) error {
		s := tr.attempt(seed, i, a)
		timer := time.NewTimer(s.lat)
		defer timer.Stop()
		select {
		case <-timer.C:
		case <-ctx.Done():
			return ctx.Err()
		}
		if s.out != outcomeOK {
			return errSimFailed
		}
		return nil
	})
}

// replayCalls runs calls 0..n-1 through exec under simKey, concurrency at a
// time; every attempt of call i runs attempt(ctx, i, a), a being the
// attempt's index. Once every call has returned it runs settle, which waits
// for the hedges that lost (a hedge's goroutine may start its attempt after
// its call returned), and then returns the calls' latencies and quantiles,
// the attempts started and the calls that failed.
func replayCalls(exec *rego.Executor, c candidate, n, concurrency int, settle func(), attempt func(ctx context.Context, i, a int) error) simResult {
	res := simResult{cand: c, calls: n, lat: make([]time.Duration, n)}
	var next, attempts, failed atomic.Int64
	var wg sync.WaitGroup
	for range concurrency {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				start := time.Now()
				err := exec.Do(context.Background(), simKey, func(ctx context.Context) error {
					attempts.Add(1)
					a := 0
					if info, ok := rego.AttemptFromContext(ctx); ok {
						a = info.Index
					}
					return attempt(ctx, i, a)
				})
				res.lat[i] = time.Since(start)
				if err != nil {
					failed.Add(1)
				}
			}
		})
	}
	wg.Wait()
	settle()
	res.attempts, res.errors = int(attempts.Load()), int(failed.Load())
	slices.Sort(res.lat)
	res.p50, res.p99, res.p999 = quantile(res.lat, 50), quantile(res.lat, 99), quantile(res.lat, 99.9)
	res.max = res.lat[n-1]
	return res
}
