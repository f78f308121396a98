package bench

// Experiments beside the micro-benchmarks: what the policies do to tail
// latency and to a failing backend's load, rego and its peers in one run.
// They take real time (tens of seconds), so they run only with -experiments:
//
//	go test ./bench -run Experiment -experiments -v

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"text/tabwriter"
	"time"

	avast "github.com/avast/retry-go/v4"
	"github.com/cenkalti/backoff/v5"
	"github.com/failsafe-go/failsafe-go"
	fsbudget "github.com/failsafe-go/failsafe-go/budget"
	"github.com/failsafe-go/failsafe-go/hedgepolicy"
	"github.com/failsafe-go/failsafe-go/retrypolicy"

	"github.com/regoresilience/rego"
	"github.com/regoresilience/rego/engine"
	"github.com/regoresilience/rego/policy"
)

var experiments = flag.Bool("experiments", false, "run the tail-at-scale and retry-storm experiments (real time, about a minute)")

// tasSample is the Tail-at-Scale backend: 98% of attempts take 1-10ms, 2%
// take 200-1000ms (uniform), a pure function of (call, attempt) so every
// library faces the same latencies.
func tasSample(call, attempt int) time.Duration {
	r := rand.New(rand.NewPCG(uint64(call), uint64(attempt)+1<<32))
	if r.Float64() < 0.02 {
		return 200*time.Millisecond + time.Duration(r.Int64N(int64(800*time.Millisecond)))
	}
	return time.Millisecond + time.Duration(r.Int64N(int64(9*time.Millisecond)))
}

// sleepCtx waits d or until ctx ends: a backend call that its caller can
// cancel.
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// expResult is one row of an experiment.
type expResult struct {
	name                string
	calls, attempts     int
	errors              int
	p50, p99, p999, max time.Duration
	wall                time.Duration
}

func (r expResult) extra() float64 { return float64(r.attempts)/float64(r.calls) - 1 }

// runLoad makes calls calls, inFlight at a time; call(i, attempt) is what
// each library runs: attempt returns the index of a new backend attempt of
// call i. It waits for every attempt started to return.
func runLoad(name string, calls, inFlight int, call func(i int, attempt func() int) error) expResult {
	return runRounds(name, 1, calls, inFlight, call)
}

// load is one batch of calls: their latencies and counts.
type load struct {
	lat              []time.Duration
	attempts, failed int
	wall             time.Duration
}

// runBatch makes calls first..first+n-1, inFlight at a time.
func runBatch(first, n, inFlight int, call func(i int, attempt func() int) error) load {
	lat := make([]time.Duration, n)
	var next, attempts, failed atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range inFlight {
		wg.Go(func() {
			for {
				j := int(next.Add(1) - 1)
				if j >= n {
					return
				}
				var k atomic.Int64 // this call's attempts
				t0 := time.Now()
				err := call(first+j, func() int {
					attempts.Add(1)
					return int(k.Add(1) - 1)
				})
				lat[j] = time.Since(t0)
				if err != nil {
					failed.Add(1)
				}
			}
		})
	}
	wg.Wait()
	return load{lat: lat, attempts: int(attempts.Load()), failed: int(failed.Load()), wall: time.Since(start)}
}

// runRounds makes calls calls in rounds batches of calls/rounds.
func runRounds(name string, rounds, calls, inFlight int, call func(i int, attempt func() int) error) expResult {
	var all load
	per := calls / rounds
	for r := range rounds {
		l := runBatch(r*per, per, inFlight, call)
		all.lat = append(all.lat, l.lat...)
		all.attempts += l.attempts
		all.failed += l.failed
		all.wall += l.wall
	}
	return summarizeLoad(name, all)
}

func summarizeLoad(name string, l load) expResult {
	n := len(l.lat)
	r := expResult{name: name, calls: n, attempts: l.attempts, errors: l.failed, wall: l.wall}
	slices.Sort(l.lat)
	q := func(p float64) time.Duration { return l.lat[min(int(math.Ceil(p/100*float64(n)))-1, n-1)] }
	r.p50, r.p99, r.p999, r.max = q(50), q(99), q(99.9), l.lat[n-1]
	return r
}

func printResults(t *testing.T, title string, rs []expResult) {
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "setup\tp50\tp99\tp99.9\tmax\textra load\terrors\twall")
	for _, r := range rs {
		fmt.Fprintf(tw, "%s\t%.1fms\t%.1fms\t%.1fms\t%.1fms\t%.1f%%\t%d\t%v\n", r.name, ms(r.p50), ms(r.p99), ms(r.p999), ms(r.max),
			100*r.extra(), r.errors, r.wall.Round(time.Millisecond))
	}
	tw.Flush()
	t.Logf("%s\n%s", title, b.String())
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// TestExperimentTailAtScale compares hedging setups on the Tail-at-Scale
// backend: 20k calls, 64 in flight. Every setup hedges once; rego's budgets
// and failsafe-go's (none by default for hedges) are each library's defaults.
func TestExperimentTailAtScale(t *testing.T) {
	if !*experiments {
		t.Skip("needs -experiments")
	}
	const calls, inFlight = 20000, 64
	const delay = 10 * time.Millisecond // the fast attempts' ceiling, the trace's ~p98
	type setup struct {
		name string
		call func(i int, attempt func() int) error
	}
	regoSetup := func(name string, h policy.Hedge) setup {
		e := newRego(t, policy.Policy{Retry: policy.Retry{MaxAttempts: 1}, Hedge: h})
		key := rego.ParseKey("bench.TailAtScale")
		return setup{name, func(i int, attempt func() int) error {
			return e.Do(ctx, key, func(ctx context.Context) error { return sleepCtx(ctx, tasSample(i, attempt())) })
		}}
	}
	failsafeSetup := func(name string, hp hedgepolicy.HedgePolicy[any]) setup {
		ex := failsafe.With[any](hp)
		return setup{name, func(i int, attempt func() int) error {
			return ex.RunWithExecution(func(exe failsafe.Execution[any]) error {
				return sleepCtx(exe.Context(), tasSample(i, attempt()))
			})
		}}
	}
	setups := []setup{
		{"no hedge", func(i int, attempt func() int) error { return sleepCtx(ctx, tasSample(i, attempt())) }},
		regoSetup("rego fixed 10ms", policy.Hedge{MaxHedges: 1, Delay: delay}),
		regoSetup("rego p95", policy.Hedge{MaxHedges: 1, Percentile: 95, Delay: delay}),
		failsafeSetup("failsafe-go fixed 10ms", hedgepolicy.NewWithDelay[any](delay)),
		// quantileAge 1000 executions remembered, hedging from the 100th: rego's
		// MinSamples default.
		failsafeSetup("failsafe-go quantile 0.95", hedgepolicy.NewWithDelayQuantile[any](0.95, 1000, 100)),
	}
	// The machine's load drifts over a run: the setups take turns, rounds
	// of calls/rounds calls each, in a rotating order, and each setup's
	// rounds are pooled. Executors (and their learned delays) persist
	// across rounds.
	const rounds = 4
	loads := make([]load, len(setups))
	per := calls / rounds
	for r := range rounds {
		for k := range setups {
			i := (k + r) % len(setups)
			l := runBatch(r*per, per, inFlight, setups[i].call)
			loads[i].lat = append(loads[i].lat, l.lat...)
			loads[i].attempts += l.attempts
			loads[i].failed += l.failed
			loads[i].wall += l.wall
		}
	}
	var rs []expResult
	for i, s := range setups {
		rs = append(rs, summarizeLoad(s.name, loads[i]))
	}
	printResults(t, fmt.Sprintf("Tail at Scale: %d calls, %d in flight; 98%% 1-10ms, 2%% 200-1000ms; one hedge; %d interleaved rounds", calls, inFlight, rounds), rs)
}

var errDown = errors.New("bench: backend down")

// TestExperimentRetryStorm measures retry amplification against a backend
// that fails every call (after 1ms): backend attempts per call, each library
// with its defaults and with the setup its docs recommend against storms.
// Each call has a 2s deadline, so libraries with long default backoffs are
// measured over the same window.
func TestExperimentRetryStorm(t *testing.T) {
	if !*experiments {
		t.Skip("needs -experiments")
	}
	const calls, inFlight = 2000, 64
	const deadline = 2 * time.Second
	backend := func(ctx context.Context, attempt func() int) error {
		attempt()
		if err := sleepCtx(ctx, time.Millisecond); err != nil {
			return err
		}
		return errDown
	}
	withDeadline := func(f func(ctx context.Context) error) error {
		ctx, cancel := context.WithTimeout(ctx, deadline)
		defer cancel()
		return f(ctx)
	}
	regoSetup := func(name string, opts ...rego.Option) func() expResult {
		return func() expResult {
			// policy.Default(): 3 attempts, 100ms..5s full jitter; the key's
			// default budgets unless opts change them.
			e := newRego(t, policy.Default(), opts...)
			key := rego.ParseKey("bench.Storm")
			return runLoad(name, calls, inFlight, func(_ int, attempt func() int) error {
				return withDeadline(func(ctx context.Context) error {
					return e.Do(ctx, key, func(ctx context.Context) error { return backend(ctx, attempt) })
				})
			})
		}
	}
	failsafeSetup := func(name string, rp retrypolicy.RetryPolicy[any]) func() expResult {
		return func() expResult {
			ex := failsafe.With[any](rp)
			return runLoad(name, calls, inFlight, func(_ int, attempt func() int) error {
				return withDeadline(func(ctx context.Context) error {
					return ex.WithContext(ctx).RunWithExecution(func(exe failsafe.Execution[any]) error {
						return backend(exe.Context(), attempt)
					})
				})
			})
		}
	}
	setups := []func() expResult{
		regoSetup("rego defaults (3 attempts, 100ms..5s, budget 10%+10/s)"),
		regoSetup("rego, budgets off", engine.WithKeyBudgets(nil, nil)),
		failsafeSetup("failsafe-go defaults (3 attempts, no delay)", retrypolicy.NewWithDefaults[any]()),
		failsafeSetup("failsafe-go 3 attempts, 100ms..5s, budget (20% in flight)",
			retrypolicy.NewBuilder[any]().WithMaxAttempts(3).WithBackoff(100*time.Millisecond, 5*time.Second).
				WithBudget(fsbudget.New()).Build()),
		func() expResult {
			return runLoad("retry-go defaults (10 attempts, 100ms backoff + jitter)", calls, inFlight, func(_ int, attempt func() int) error {
				return withDeadline(func(ctx context.Context) error {
					return avast.Do(func() error { return backend(ctx, attempt) }, avast.Context(ctx))
				})
			})
		},
		func() expResult {
			return runLoad("cenkalti/backoff defaults (500ms x1.5, +-50%)", calls, inFlight, func(_ int, attempt func() int) error {
				return withDeadline(func(ctx context.Context) error {
					_, err := backoff.Retry(ctx, func() (struct{}, error) { return struct{}{}, backend(ctx, attempt) })
					return err
				})
			})
		},
	}
	var rs []expResult
	for _, s := range setups {
		rs = append(rs, s())
	}
	var b strings.Builder
	for _, r := range rs {
		fmt.Fprintf(&b, "%-62s amplification %.2fx (%d backend attempts for %d calls)\n", r.name, float64(r.attempts)/float64(r.calls), r.attempts, r.calls)
	}
	t.Logf("Retry storm: backend fails 100%% (after 1ms); %d calls, %d in flight, %v deadline each\n%s", calls, inFlight, deadline, b.String())
}
