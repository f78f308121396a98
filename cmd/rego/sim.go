package main

// rego sim: replay a latency trace through the engine under a grid of
// candidate policies and recommend one.

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/regoresilience/rego/policy"
)

const simUsage = `Usage: rego sim [flags] TRACE
       rego sim -generate NAME [-n calls] [-seed n]

Replays a latency trace through rego's engine on a virtual clock, under a grid
of candidate policies, and recommends the one with the lowest p99.9 latency
whose extra load (attempts per call - 1) stays within -max-load, on the trace
and on the trace made 10% slower (a hedge delay set where latencies are dense
turns a small slowdown into many more hedges). The recommendation is printed
as a policy document (rego policy check accepts it).

TRACE is a file, or - for stdin, in one of two formats:

  one latency a line     12ms
                         1.5s
                         830us        (with -unit ms, bare numbers: 12, 1.5)
  CSV with a header      latency,status,key
                         12ms,200,users.GetUser
                         950ms,503,users.GetUser

  CSV columns: latency (required); status (optional: HTTP status, gRPC code
  or name, ok/error; 5xx, 408, 429 and UNAVAILABLE-like codes are retryable
  failures, other 4xx and codes are permanent); error (optional: non-empty
  means failed); key (optional: one recommendation per key). Other columns
  are ignored. Blank lines and lines starting with # are skipped.

Each recorded call is one call's first attempt; retries and hedges draw their
latency and status from the whole trace at random (seeded).

The grid: no hedge; fixed hedge delays at the trace's p90, p95 and p99;
percentile triggers at p90, p95, p99 and p99.5; each with 1 or 2 hedges;
retries on and off (only on when the trace has no failures); the key's
default budgets and no budgets.

Try it: rego sim -generate tail-at-scale | rego sim -

Flags:
`

// simConfig is what the sim's flags set.
type simConfig struct {
	unit        time.Duration
	concurrency int
	maxLoad     float64 // fraction: 0.05 is 5%
	seed        uint64
	limit       int    // first calls of each key only; 0 = all
	pattern     string // pattern of the recommendation when the trace has no key column
	out         string // file for the recommended document; "" = stdout only
	svg, html   string // files for the latency chart; "" = none
}

func runSim(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cfg := simConfig{concurrency: 32, maxLoad: 0.05, seed: 1, pattern: "*"}
	var unit, generate string
	fs := flag.NewFlagSet("rego sim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {}
	fs.StringVar(&unit, "unit", "", "unit of bare numbers in the trace: ns, us, ms or s")
	fs.IntVar(&cfg.concurrency, "c", cfg.concurrency, "calls in flight at once (a closed loop, as your client runs them)")
	fs.Var((*percentFlag)(&cfg.maxLoad), "max-load", "the most extra load a recommendation may add: 5% or 0.05")
	fs.Uint64Var(&cfg.seed, "seed", cfg.seed, "seed of the samples drawn for retries and hedges (and of -generate)")
	fs.IntVar(&cfg.limit, "n", 0, "replay only each key's first n calls (0: all); with -generate, calls to generate (default 20000)")
	fs.StringVar(&cfg.pattern, "key", cfg.pattern, "policy pattern of the recommendation when the trace has no key column")
	fs.StringVar(&cfg.out, "o", "", "also write the recommended policy document to this file")
	fs.StringVar(&cfg.svg, "svg", "", "also write a latency CDF (no hedge against the recommendation) as an SVG image")
	fs.StringVar(&cfg.html, "html", "", "also write the report and the chart as an HTML page")
	fs.StringVar(&generate, "generate", "", "print a sample trace instead: "+strings.Join(generatorNames(), " or "))
	printUsage := func(w io.Writer) {
		fmt.Fprint(w, simUsage)
		fs.SetOutput(w)
		fs.PrintDefaults()
		fs.SetOutput(stderr)
	}
	// Flags may come after TRACE too (rego sim trace.txt -c 64): parse
	// until the flags run out, set the argument aside, and go on.
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				printUsage(stdout)
				return exitOK
			}
			printUsage(stderr)
			return exitUsage
		}
		if fs.NArg() == 0 {
			break
		}
		pos, args = append(pos, fs.Arg(0)), fs.Args()[1:]
	}
	if generate != "" {
		return simGenerate(generate, cfg, len(pos), stdout, stderr)
	}
	if len(pos) != 1 {
		fmt.Fprintf(stderr, "rego sim: want one TRACE argument (a file, or - for stdin), got %d\n\n", len(pos))
		printUsage(stderr)
		return exitUsage
	}
	var errs []error
	if unit != "" {
		u, ok := simUnits[unit]
		if !ok {
			errs = append(errs, fmt.Errorf("-unit %q: want ns, us, ms or s", unit))
		}
		cfg.unit = u
	}
	if cfg.concurrency < 1 || cfg.concurrency > 10_000 {
		errs = append(errs, fmt.Errorf("-c %d: must be in [1, 10000]", cfg.concurrency))
	}
	if cfg.limit < 0 {
		errs = append(errs, fmt.Errorf("-n %d: must be >= 0", cfg.limit))
	}
	if _, err := parsePattern(cfg.pattern); err != nil {
		errs = append(errs, fmt.Errorf("-key: %w", err))
	}
	if err := errors.Join(errs...); err != nil {
		fmt.Fprintf(stderr, "rego sim: %v\n", err)
		return exitUsage
	}

	name, in := pos[0], io.Reader(os.Stdin)
	if name == "-" {
		name = "stdin"
	} else {
		f, err := os.Open(name)
		if err != nil {
			fmt.Fprintf(stderr, "rego sim: %v\n", err)
			return exitFail
		}
		defer f.Close()
		in = f
	}
	traces, err := parseTrace(in, name, cfg.unit)
	if err != nil {
		fmt.Fprintf(stderr, "rego sim: %v\n", err)
		return exitFail
	}
	rep, err := simulate(ctx, name, traces, cfg, newProgress(stderr))
	if rep != nil {
		rep.write(stdout)
	}
	if err != nil {
		fmt.Fprintf(stderr, "rego sim: %v\n", err)
		return exitFail
	}
	if cfg.out != "" {
		if err := os.WriteFile(cfg.out, rep.doc, 0o644); err != nil {
			fmt.Fprintf(stderr, "rego sim: %v\n", err)
			return exitFail
		}
	}
	if err := writeCharts(rep.chart(), cfg.svg, cfg.html, rep.write); err != nil {
		fmt.Fprintf(stderr, "rego sim: %v\n", err)
		return exitFail
	}
	return exitOK
}

var simUnits = map[string]time.Duration{"ns": time.Nanosecond, "us": time.Microsecond, "µs": time.Microsecond,
	"ms": time.Millisecond, "s": time.Second}

// parsePattern checks a policy pattern by building a one-entry Set.
func parsePattern(p string) (*policy.Set, error) {
	return policy.NewSet(map[string]policy.Policy{p: {}})
}

func simGenerate(name string, cfg simConfig, nargs int, stdout, stderr io.Writer) int {
	g, ok := generators[name]
	if !ok {
		fmt.Fprintf(stderr, "rego sim: -generate %q: want %s\n", name, strings.Join(generatorNames(), " or "))
		return exitUsage
	}
	if nargs > 0 {
		fmt.Fprintln(stderr, "rego sim: -generate takes no TRACE argument")
		return exitUsage
	}
	n := cfg.limit
	if n == 0 {
		n = 20000
	}
	if n > maxTraceLines {
		fmt.Fprintf(stderr, "rego sim: -n %d: must be at most %d\n", n, maxTraceLines)
		return exitUsage
	}
	if err := g.gen(stdout, n, cfg.seed); err != nil {
		fmt.Fprintf(stderr, "rego sim: %v\n", err)
		return exitFail
	}
	return exitOK
}

// percentFlag is a fraction set as "5%" or "0.05".
type percentFlag float64

func (p *percentFlag) String() string { return strconv.FormatFloat(float64(*p)*100, 'g', -1, 64) + "%" }

func (p *percentFlag) Set(s string) error {
	div := 1.0
	if t, ok := strings.CutSuffix(s, "%"); ok {
		s, div = t, 100
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || !(f >= 0) || f/div > 10 {
		return fmt.Errorf("want a percentage such as 5%% or a fraction such as 0.05 (at most 1000%%)")
	}
	*p = percentFlag(f / div)
	return nil
}

// keyReport is the simulation of one key's trace.
type keyReport struct {
	pattern string
	trace   *trace
	results []simResult // grid order
	best    int         // index into results
}

// simReport is a whole rego sim run.
type simReport struct {
	name        string
	cfg         simConfig
	keys        []*keyReport
	wall        time.Duration
	interrupted bool
	doc         []byte // the recommended policy document
}

// simulate replays every key's trace under every candidate. On ctx's end it
// returns what it measured so far along with ctx's error.
func simulate(ctx context.Context, name string, traces []*trace, cfg simConfig, prog *progress) (*simReport, error) {
	start := time.Now()
	rep := &simReport{name: name, cfg: cfg}
	total := 0
	grids := make([][]candidate, len(traces))
	for i, tr := range traces {
		if cfg.limit > 0 && len(tr.samples) > cfg.limit {
			tr.samples = tr.samples[:cfg.limit]
		}
		grids[i] = candidates(tr)
		total += len(grids[i])
	}
	done := 0
	var err error
	for i, tr := range traces {
		kr := &keyReport{pattern: cmp.Or(tr.key, cfg.pattern), trace: tr}
		for _, c := range grids[i] {
			prog.update(fmt.Sprintf("rego sim: candidate %d/%d (%s)", done+1, total, c.name))
			r, rerr := replay(ctx, tr, c, cfg.concurrency, cfg.seed)
			r.slowLoad = r.extraLoad()
			if rerr == nil && c.policy.Hedge.MaxHedges > 0 {
				// Only hedges depend on how slow the backend is.
				var slow simResult
				slow, rerr = replayStretched(ctx, tr, c, cfg.concurrency, cfg.seed, slowStretch)
				r.slowLoad = slow.extraLoad()
			}
			done++
			if rerr != nil {
				err = rerr
				break
			}
			kr.results = append(kr.results, r)
		}
		if len(kr.results) > 0 {
			kr.best = recommend(kr.results, cfg.maxLoad)
			rep.keys = append(rep.keys, kr)
		}
		if err != nil {
			break
		}
	}
	prog.done()
	rep.wall = time.Since(start)
	rep.interrupted = err != nil && ctx.Err() != nil
	if len(rep.keys) == 0 {
		return nil, err
	}
	rep.doc, _ = rep.document() // candidates are valid by construction; the tests check it
	return rep, err
}
