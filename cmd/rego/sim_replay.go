package main

// Replaying a trace through the real engine on virtual time, one candidate
// policy at a time.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/regoresilience/rego"
	"github.com/regoresilience/rego/controlplane"
	"github.com/regoresilience/rego/engine"
	"github.com/regoresilience/rego/observe"
	"github.com/regoresilience/rego/policy"
)

// candidate is one policy the simulation tries.
type candidate struct {
	name    string
	policy  policy.Policy
	budgets bool // the key's default retry and hedge budgets (false: none)
}

// newExecutor returns an executor that runs every key under c's policy, with
// the key's default budgets only if c.budgets, logging nothing; extra options
// (the simulation's clock) come last. The static provider it reads has
// nothing to close: closing the executor is all the caller owes.
func (c candidate) newExecutor(extra ...engine.Option) (*rego.Executor, error) {
	opts := []engine.Option{
		engine.WithProvider(controlplane.NewStatic(map[string]policy.Policy{"*": c.policy})),
		engine.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))),
	}
	if !c.budgets {
		opts = append(opts, engine.WithKeyBudgets(nil, nil))
	}
	exec, err := rego.NewExecutor(append(opts, extra...)...)
	if err != nil {
		return nil, fmt.Errorf("candidate %s: %w", c.name, err)
	}
	return exec, nil
}

// simResult is what one candidate did with the trace.
type simResult struct {
	cand                candidate
	calls, attempts     int
	errors              int
	p50, p99, p999, max time.Duration
	virtual             time.Duration // virtual time the replay took
	lat                 []time.Duration
	// slowLoad is the extra load when every latency is slowStretch times
	// the trace's: how much a fixed hedge delay's cost grows when the
	// backend slows down a little.
	slowLoad float64
}

// slowStretch is the slowdown every hedging candidate is also replayed
// under: a backend 10% slower than the trace (a deploy, a busy neighbour,
// the loopback of a live test).
const slowStretch = 1.1

// extraLoad is the attempts sent beyond one per call, per call.
func (r simResult) extraLoad() float64 {
	if r.calls == 0 {
		return 0
	}
	return float64(r.attempts)/float64(r.calls) - 1
}

// errSimFailed is the error a simulated attempt returns when the trace says
// the call failed.
var errSimFailed = errors.New("rego sim: the trace's call failed")

// errStalled means the simulation stopped making progress: goroutines wait
// for something other than virtual time. It is a bug in rego sim or the engine.
var errStalled = errors.New("rego sim: the simulation stalled (no timer armed, calls unfinished)")

// simKey is the key every replayed call uses.
var simKey = policy.Key{Namespace: "sim", Name: "Replay"}

// replayMu serializes replays: each sets GOMAXPROCS to 1 for its duration.
var replayMu sync.Mutex

// replay runs every call of tr through a new engine under cand, concurrency
// calls at a time (a closed loop: a call starts as soon as one ends), on
// virtual time, and returns the candidate's results. seed picks the samples
// of retries and hedges (see trace.attempt).
func replay(ctx context.Context, tr *trace, cand candidate, concurrency int, seed uint64) (simResult, error) {
	return replayStretched(ctx, tr, cand, concurrency, seed, 1)
}

// replayStretched is replay with every latency of the trace multiplied by
// stretch: the same backend, uniformly slower (or faster).
func replayStretched(ctx context.Context, tr *trace, cand candidate, concurrency int, seed uint64, stretch float64) (simResult, error) {
	replayMu.Lock()
	defer replayMu.Unlock()
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))

	clk := newSimClock()
	exec, err := cand.newExecutor(engine.WithClock(clk))
	if err != nil {
		return simResult{}, err
	}

	n := len(tr.samples)
	res := simResult{cand: cand, calls: n, lat: make([]time.Duration, n)}
	var (
		next, done, inOp atomic.Int64
		attempts, failed atomic.Int64
		stop             atomic.Bool // set when ctx is done: workers take no new call
		wg               sync.WaitGroup
	)
	op := func(call int) func(context.Context) error {
		return func(actx context.Context) error {
			inOp.Add(1)
			defer inOp.Add(-1)
			attempts.Add(1)
			a := 0
			if info, ok := observe.AttemptFromContext(actx); ok {
				a = info.Index
			}
			s := tr.attempt(seed, call, a)
			if stretch != 1 {
				s.lat = time.Duration(float64(s.lat) * stretch)
			}
			t := clk.NewTimer(s.lat)
			select {
			case <-t.C():
			case <-actx.Done():
				t.Stop()
				return actx.Err()
			}
			clk.activity.Add(1)
			switch s.out {
			case outcomeRetryable:
				return errSimFailed
			case outcomePermanent:
				return rego.Permanent(errSimFailed)
			}
			return nil
		}
	}
	// The workers: each owns the calls it takes; res.lat[i] is written by the
	// worker that ran call i, and read after wg.Wait.
	for range min(concurrency, n) {
		wg.Go(func() {
			for !stop.Load() {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				start := clk.Now()
				if err := exec.Do(context.Background(), simKey, op(i)); err != nil {
					failed.Add(1)
				}
				res.lat[i] = clk.Now().Sub(start)
				done.Add(1)
			}
		})
	}
	// The driver: this goroutine owns the passage of virtual time.
	for {
		clk.settle()
		if d := done.Load(); d >= int64(n) || stop.Load() && d >= min(next.Load(), int64(n)) {
			break
		}
		if ctx.Err() != nil {
			stop.Store(true) // finish the calls in flight, start no more
		}
		if !clk.advance() {
			err = errStalled
			break
		}
	}
	clk.settle()
	// Every call has returned; hedges that lost were cancelled and their ops
	// have returned (settle let them run). Close ends the engine's goroutines.
	if err == nil && inOp.Load() != 0 {
		err = fmt.Errorf("%w: %d attempts still running after every call returned", errStalled, inOp.Load())
	}
	if err != nil {
		// Stuck goroutines would never finish: leave them, report the bug.
		exec.Close()
		return simResult{}, fmt.Errorf("candidate %s: %w", cand.name, err)
	}
	wg.Wait()
	exec.Close()

	// Calls are taken in order and every call taken has ended, so an
	// interrupted replay measured exactly the calls 0..done-1.
	res.calls = int(done.Load())
	res.lat = res.lat[:res.calls]
	res.attempts = int(attempts.Load())
	res.errors = int(failed.Load())
	res.virtual = clk.elapsed()
	slices.Sort(res.lat)
	res.p50, res.p99, res.p999 = quantile(res.lat, 50), quantile(res.lat, 99), quantile(res.lat, 99.9)
	if len(res.lat) > 0 {
		res.max = res.lat[len(res.lat)-1]
	}
	if ctx.Err() != nil {
		return res, ctx.Err()
	}
	return res, nil
}
