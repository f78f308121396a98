// Command mutate checks that the tests catch a break of the engine's hot
// path: it applies, one at a time, a small change to one of the lines that
// carry a promise (the retry budget's deposit, the deadline checks, the
// budget check, the hedge timer and loser cancellation, the observer
// order...), runs the engine's and the stress suite's tests on the mutated
// copy, and prints which tests failed. A mutation no test notices is a test
// missing, and makes the command exit with status 1.
//
// Run it from the module root (CI does not run it: it takes a few minutes):
//
//	go run ./scripts/mutate            # every mutation
//	go run ./scripts/mutate -run budget # those whose name contains "budget"
//
// It works on a copy of the module in a temporary directory; the working
// tree is never modified. A mutation whose line is no longer found is
// reported as "stale": update its text when the code moves.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"
)

// mutation replaces the one occurrence of old in file with new.
type mutation struct {
	name string // short, for -run and the table
	file string // relative to the module root
	old  string // exact text, found once in file
	new  string
	what string // the promise the line keeps
}

var mutations = []mutation{
	{"deposit", "engine/call.go",
		"\t\t\tkp.retryBudget.Record(true, first.verdict.Outcome != classify.Retryable)\n", "\t\t\t_ = classify.Retryable\n",
		"the fast path records the first attempt in the retry budget"},
	{"fast-success", "engine/call.go",
		"if first.pan == nil && first.verdict.Outcome == classify.Success {", "if first.pan == nil {",
		"only a success leaves the fast path without the loop"},
	{"attempt-ctx-finish", "engine/call.go",
		"\t\tif ac != nil {\n\t\t\tac.finish()\n\t\t}\n", "\t\t_ = ac\n",
		"an attempt's context ends when its op returns"},
	{"cancel-check", "engine/loop.go",
		"if err := ctx.Err(); err != nil && (r > 0 || firstRound == nil) {", "if err := ctx.Err(); false && err != nil && (r > 0 || firstRound == nil) {",
		"no round starts after the caller cancelled"},
	{"max-attempts", "engine/loop.go",
		"if r+1 >= p.Retry.MaxAttempts {", "if r+1 > p.Retry.MaxAttempts {",
		"MaxAttempts counts every round"},
	{"deadline-skip", "engine/loop.go",
		"if now := cs.e.clock.Now(); !now.Add(wait).Before(cs.deadline) {", "if now := cs.e.clock.Now(); false && !now.Add(wait).Before(cs.deadline) {",
		"a retry whose backoff ends past the deadline is not started"},
	{"deadline-after-sleep", "engine/loop.go",
		"if now := cs.e.clock.Now(); !now.Before(cs.deadline) {", "if now := cs.e.clock.Now(); false && !now.Before(cs.deadline) {",
		"no attempt starts at or past the deadline after a late wake-up"},
	{"budget-check", "engine/loop.go",
		"if !cs.kp.retryBudget.TryAcquire() {", "if !cs.kp.retryBudget.TryAcquire() && false {",
		"a retry the budget refuses is not made"},
	{"permit-release", "engine/loop.go",
		"\t\tn += res.started\n\t\tif permit {\n\t\t\tpermit = false\n\t\t\tkp.retryBudget.Release()\n\t\t}\n", "\t\tn += res.started\n\t\tpermit = false\n",
		"a retry's permit is released when its round ends"},
	{"attempt-deadline", "engine/loop.go",
		"if ad := start.Add(t); d.IsZero() || ad.Before(d) {", "if ad := start.Add(t); true {",
		"an attempt's deadline never exceeds the call's"},
	{"observer-start", "engine/loop.go",
		"\t\t\te.obs.OnStart(ctx, key)\n", "\n",
		"observers see OnStart once per call, first"},
	{"observer-outcome", "engine/recorder.go",
		"\tif ok {\n\t\tr.obs.OnSuccess(r.ctx, r.tl)", "\tif !ok {\n\t\tr.obs.OnSuccess(r.ctx, r.tl)",
		"observers see exactly the call's outcome"},
	{"hedge-timer-stop", "engine/hedgeround.go",
		"if g.timer.Stop() && settles {", "if settles {",
		"a primary that settles first cancels the hedge timer"},
	{"hedge-cleanup", "engine/hedgeround.go",
		"\t\tif !ended {\n\t\t\tg.timer.Stop()\n\t\t\tg.decide(-1)\n\t\t}\n", "\t\t_ = ended\n",
		"a round left by a panic or Goexit stops its timer and hedges"},
	{"hedge-loser-cancel", "engine/hedge.go",
		"\t\t\tac.lose()\n", "\t\t\t_ = ac\n",
		"the losers of a decided round are cancelled"},
	{"hedge-budget", "engine/hedge.go",
		"granted := !over && g.tryAcquireHedge(&cs)", "granted := !over",
		"a hedge the hedge budget refuses is not launched"},
	{"hedge-after-deadline", "engine/hedge.go",
		"over := cs.ctx.Err() != nil || cs.e.closed.Load() || (!cs.deadline.IsZero() && !now.Before(cs.deadline))",
		"over := cs.ctx.Err() != nil || cs.e.closed.Load()",
		"no hedge starts at or past the call's deadline"},
	{"breaker-slow", "engine/breaker.go",
		"return t, !ok || t.Probe()", "return t, !ok",
		"a half-open probe takes the loop, which runs it as one attempt"},
	{"breaker-refuse", "engine/loop.go",
		"if kp.breakerRefused(cs.bt) {", "if false && kp.breakerRefused(cs.bt) {",
		"a call the breaker refuses does not run op"},
	{"breaker-record", "engine/loop.go",
		"\t\trecordBreaker(cs.kp.breaker, &cs.bt, cs.ctx, verdict)\n", "\n",
		"every accounted attempt reaches the breaker"},
	{"breaker-fast-record", "engine/call.go",
		"\t\t\t\trecordBreaker(kp.breaker, &bt, ctx, first.verdict)\n", "\n",
		"the fast path's first attempt reaches the breaker"},
	{"breaker-retry", "engine/loop.go",
		"if cs.kp.breakerRefusesMore() {", "if false && cs.kp.breakerRefusesMore() {",
		"no retry unless the breaker is closed"},
	{"breaker-hedge", "engine/hedge.go",
		"nohedge.Is(cs.ctx) || cs.kp.breakerRefusesMore()", "nohedge.Is(cs.ctx)",
		"no hedge launch unless the breaker is closed"},
	{"breaker-release", "engine/loop.go",
		"\t\t\tkp.breaker.Release(&cs.bt)\n", "\n",
		"a probe without an outcome gives its place back"},
	{"hook-panic-end", "engine/attempthook.go",
		"\t\t\tif started {\n", "\t\t\tif false && started {\n",
		"an attempt whose op panics ends its hook"},
	{"hook-hedge-end", "engine/hedge.go",
		"\t\tendHook(cs.e.hook, h, ac, r.err, r.verdict, r.pan)\n\t}\n\tsent = true", "\t\t_ = h\n\t}\n\tsent = true",
		"a hedge's hook ends when its op returns, a cancelled loser's too"},
	{"hook-loser-lost", "engine/attempthook.go",
		"\tcase ac.lost():\n", "\tcase false:\n",
		"a cancelled hedge loser's hook ends as lost"},
	{"breaker-probe-hedge", "engine/loop.go",
		"hedged := p.Hedge.MaxHedges > 0 && !bt.Probe()", "hedged := p.Hedge.MaxHedges > 0",
		"a half-open probe is one attempt"},
}

func main() {
	run := flag.String("run", "", "only the mutations whose name contains this")
	pkgs := flag.String("pkgs", "./engine ./stress .", "the packages whose tests must catch the mutations")
	flag.Parse()

	root, err := os.Getwd()
	check(err)
	if _, err := os.Stat(filepath.Join(root, "engine", "call.go")); err != nil {
		fail("run it from the module root: %v", err)
	}
	tmp, err := os.MkdirTemp("", "rego-mutate-")
	check(err)
	defer os.RemoveAll(tmp)
	check(copyTree(root, tmp))

	fmt.Printf("%-22s %-10s %-8s %s\n", "mutation", "result", "time", "failing tests (the promise)")
	survived := 0
	for _, m := range mutations {
		if !strings.Contains(m.name, *run) {
			continue
		}
		start := time.Now()
		res, tests := try(tmp, root, m, strings.Fields(*pkgs))
		if res != "killed" {
			survived++
		}
		fmt.Printf("%-22s %-10s %-8s %s (%s)\n", m.name, res, time.Since(start).Round(time.Second), tests, m.what)
	}
	if survived > 0 {
		fmt.Printf("%d mutation(s) not caught\n", survived)
		os.Exit(1)
	}
}

// try applies m in the copy at tmp, runs the tests, and restores the file.
func try(tmp, root string, m mutation, pkgs []string) (result, tests string) {
	path := filepath.Join(tmp, m.file)
	orig, err := os.ReadFile(filepath.Join(root, m.file))
	check(err)
	if bytes.Count(orig, []byte(m.old)) != 1 {
		return "stale", "-"
	}
	check(os.WriteFile(path, bytes.Replace(orig, []byte(m.old), []byte(m.new), 1), 0o644))
	defer func() { check(os.WriteFile(path, orig, 0o644)) }()

	cmd := exec.Command("go", append([]string{"test", "-count=1", "-timeout=120s"}, pkgs...)...)
	cmd.Dir = tmp
	out, err := cmd.CombinedOutput()
	if err == nil {
		return "SURVIVED", "-"
	}
	failed := map[string]bool{}
	for _, sm := range failRE.FindAllSubmatch(out, -1) {
		name := string(sm[1])
		if i := strings.IndexByte(name, '/'); i > 0 {
			name = name[:i]
		}
		failed[name] = true
	}
	if len(failed) == 0 {
		if bytes.Contains(out, []byte("[build failed]")) || bytes.Contains(out, []byte("panic:")) {
			return "killed", "build failure or panic"
		}
		return "killed", "package failure"
	}
	names := make([]string, 0, len(failed))
	for n := range failed {
		names = append(names, n)
	}
	sort.Strings(names)
	if len(names) > 3 {
		names = append(names[:3], fmt.Sprintf("+%d more", len(failed)-3))
	}
	return "killed", strings.Join(names, ", ")
}

var failRE = regexp.MustCompile(`--- FAIL: (\S+)`)

// copyTree copies the module at src to dst, without .git.
func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if d.IsDir() {
			if d.Name() == ".git" {
				return filepath.SkipDir
			}
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		if !d.Type().IsRegular() {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
	})
}

func check(err error) {
	if err != nil {
		fail("%v", err)
	}
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "mutate: "+format+"\n", args...)
	os.Exit(2)
}
