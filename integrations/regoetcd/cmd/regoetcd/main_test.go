package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"go.uber.org/goleak"

	"github.com/regoresilience/rego/integrations/regoetcd/internal/etcdtest"
	"github.com/regoresilience/rego/policy"
)

// TestMain checks for leaked goroutines with no exceptions: embed.Etcd.Close
// and clientv3.Client.Close end every goroutine etcd starts.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const (
	docA       = `{"policies": {"svc.*": {"retry": {"max_attempts": 2}}}}`
	docB       = `{"policies": {"svc.*": {"retry": {"max_attempts": 4}}, "*": {"timeout": "2s"}}}`
	docInvalid = `{"policies": {"svc.Op": {"retry": {"max_attempts": 0, "jitter": "fulll"}}}}`
)

// regoetcd runs the command against srv and returns its exit code and output.
func regoetcd(t *testing.T, srv *etcdtest.Server, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	if len(args) > 0 && args[0] != "dev" {
		args = append(args, "-endpoints", srv.Endpoint())
	}
	code := run(context.Background(), args, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

func docFile(t *testing.T, doc string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "policies.json")
	if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// revisionOf reads "now at revision N" from push's output.
func revisionOf(t *testing.T, out string) int64 {
	t.Helper()
	var rev int64
	i := strings.Index(out, "now at revision ")
	if i < 0 {
		t.Fatalf("no revision in %q", out)
	}
	fmt.Sscanf(out[i:], "now at revision %d", &rev)
	return rev
}

// TestPushGetHistoryRollback verifies the operator's round trip: push two
// documents, read the latest, list both, roll back to the first.
func TestPushGetHistoryRollback(t *testing.T) {
	srv := etcdtest.Start(t)
	code, out, errOut := regoetcd(t, srv, "push", docFile(t, docA))
	if code != exitOK {
		t.Fatalf("push A: exit %d, %s", code, errOut)
	}
	revA := revisionOf(t, out)
	code, out, errOut = regoetcd(t, srv, "push", docFile(t, docB))
	if code != exitOK {
		t.Fatalf("push B: exit %d, %s", code, errOut)
	}
	revB := revisionOf(t, out)

	code, out, errOut = regoetcd(t, srv, "get")
	if code != exitOK || strings.TrimSpace(out) != docB || !strings.Contains(errOut, fmt.Sprintf("revision %d", revB)) {
		t.Errorf("get: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	code, out, _ = regoetcd(t, srv, "get", "-rev", fmt.Sprint(revA))
	if code != exitOK || strings.TrimSpace(out) != docA {
		t.Errorf("get -rev %d: exit %d, %q", revA, code, out)
	}

	code, out, errOut = regoetcd(t, srv, "history")
	if code != exitOK {
		t.Fatalf("history: exit %d, %s", code, errOut)
	}
	iB, iA := strings.Index(out, fmt.Sprintf("\n%d ", revB)), strings.Index(out, fmt.Sprintf("\n%d ", revA))
	if iB < 0 || iA < 0 || iB > iA || !strings.Contains(out, "yes, 2 patterns") || !strings.Contains(out, "created at revision") {
		t.Errorf("history, want %d then %d:\n%s", revB, revA, out)
	}

	code, out, errOut = regoetcd(t, srv, "rollback", fmt.Sprint(revA))
	if code != exitOK || !strings.Contains(out, fmt.Sprintf("rolled back to the document of revision %d", revA)) {
		t.Fatalf("rollback: exit %d, %q, %q", code, out, errOut)
	}
	if _, out, _ = regoetcd(t, srv, "get"); strings.TrimSpace(out) != docA {
		t.Errorf("after rollback, get = %q", out)
	}
	// Pushing what is there already writes nothing.
	if code, out, _ = regoetcd(t, srv, "push", docFile(t, docA)); code != exitOK || !strings.Contains(out, "nothing written") {
		t.Errorf("push of the same document: exit %d, %q", code, out)
	}
}

// TestPushRejectsInvalid verifies that push validates first, with the errors
// of "rego policy check" (policy.CheckDocument's: every problem, each naming
// pattern and field), and that an oversized document is refused; nothing is
// written.
func TestPushRejectsInvalid(t *testing.T) {
	srv := etcdtest.Start(t)
	file := docFile(t, docInvalid)
	code, _, errOut := regoetcd(t, srv, "push", file)
	if code != exitFail || !strings.Contains(errOut, file+" is invalid (") {
		t.Fatalf("push invalid: exit %d, %q", code, errOut)
	}
	_, _, want := policy.CheckDocument([]byte(docInvalid))
	for _, line := range strings.Split(want.Error(), "\n") {
		if !strings.Contains(errOut, "  "+line+"\n") {
			t.Errorf("stderr lacks %q:\n%s", line, errOut)
		}
	}
	code, _, errOut = regoetcd(t, srv, "push", "-max-bytes", "10", docFile(t, docA))
	if code != exitFail || !strings.Contains(errOut, "more than the limit") {
		t.Errorf("push oversized: exit %d, %q", code, errOut)
	}
	if code, _, errOut = regoetcd(t, srv, "get"); code != exitFail || !strings.Contains(errOut, "does not exist") {
		t.Errorf("get after rejected pushes: exit %d, %q", code, errOut)
	}
}

// TestConcurrentPushExactlyOneWins verifies that two operators pushing edits
// of the same revision at once cannot overwrite each other: exactly one push
// is written, the other exits with a conflict and writes nothing.
func TestConcurrentPushExactlyOneWins(t *testing.T) {
	srv := etcdtest.Start(t)
	_, out, _ := regoetcd(t, srv, "push", docFile(t, docA))
	base := fmt.Sprint(revisionOf(t, out))
	files := []string{docFile(t, docB), docFile(t, `{"policies": {"*": {"timeout": "1s"}}}`)}
	type result struct {
		code        int
		out, errOut string
	}
	results := make([]result, 2)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range results {
		wg.Go(func() {
			<-start
			code, out, errOut := regoetcd(t, srv, "push", "-if-revision", base, files[i])
			results[i] = result{code, out, errOut}
		})
	}
	close(start)
	wg.Wait()
	won, lost := -1, -1
	for i, r := range results {
		switch r.code {
		case exitOK:
			won = i
		case exitConflict:
			lost = i
			if !strings.Contains(r.errOut, "conflict") || !strings.Contains(r.errOut, "nothing was written") {
				t.Errorf("conflict message: %q", r.errOut)
			}
		}
	}
	if won < 0 || lost < 0 {
		t.Fatalf("want one win and one conflict, got %+v", results)
	}
	want, _ := os.ReadFile(files[won])
	if _, got, _ := regoetcd(t, srv, "get"); strings.TrimSpace(got) != string(want) {
		t.Errorf("in etcd: %q, want the winner's %q", got, want)
	}
	// A stale base is a conflict too, even alone.
	if code, _, _ := regoetcd(t, srv, "push", "-if-revision", base, files[lost]); code != exitConflict {
		t.Errorf("push on a stale revision: exit %d, want %d", code, exitConflict)
	}
	if code, _, _ := regoetcd(t, srv, "push", "-if-revision", "0", files[lost]); code != exitConflict {
		t.Errorf("push expecting no key: exit %d, want %d", code, exitConflict)
	}
}

// TestHistoryFromBeforeDeletion verifies that after the key is deleted,
// history -from lists the earlier revisions and rollback restores one.
func TestHistoryFromBeforeDeletion(t *testing.T) {
	srv := etcdtest.Start(t)
	_, out, _ := regoetcd(t, srv, "push", docFile(t, docA))
	revA := revisionOf(t, out)
	cli := srv.Client()
	if _, err := cli.Delete(context.Background(), "/rego/policies"); err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := regoetcd(t, srv, "history"); code != exitFail || !strings.Contains(errOut, "-from REV") {
		t.Errorf("history of a deleted key: exit %d, %q", code, errOut)
	}
	if code, out, _ := regoetcd(t, srv, "history", "-from", fmt.Sprint(revA)); code != exitOK || !strings.Contains(out, fmt.Sprint(revA)) {
		t.Errorf("history -from: exit %d, %q", code, out)
	}
	if code, _, errOut := regoetcd(t, srv, "rollback", fmt.Sprint(revA)); code != exitOK {
		t.Fatalf("rollback after delete: exit %d, %q", code, errOut)
	}
	if _, got, _ := regoetcd(t, srv, "get"); strings.TrimSpace(got) != docA {
		t.Errorf("get = %q", got)
	}
}

// TestDev verifies that dev serves a working etcd on loopback until its
// context ends, and refuses other addresses.
func TestDev(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	var stderr bytes.Buffer
	done := make(chan int, 1)
	go func() {
		done <- cmdDev(ctx, []string{"-listen", "127.0.0.1:0", "-peer", "127.0.0.1:0", "-data-dir", t.TempDir()}, pw, &stderr)
		pw.Close()
	}()
	lines := bufio.NewScanner(pr)
	if !lines.Scan() || !strings.Contains(lines.Text(), "ready on http://127.0.0.1:") {
		t.Fatalf("dev: first line %q, stderr %q", lines.Text(), stderr.String())
	}
	endpoint := strings.Fields(strings.SplitAfter(lines.Text(), "ready on ")[1])[0]
	go io.Copy(io.Discard, pr) //nolint:errcheck // drains the rest of dev's output until it ends
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"push", "-endpoints", endpoint, docFile(t, docA)}, &out, &errOut); code != exitOK {
		t.Errorf("push to dev: exit %d, %s", code, errOut.String())
	}
	cancel()
	if code := <-done; code != exitOK {
		t.Errorf("dev exit %d, stderr %q", code, stderr.String())
	}

	if code := cmdDev(context.Background(), []string{"-listen", "0.0.0.0:2379"}, io.Discard, io.Discard); code != exitUsage {
		t.Errorf("dev on 0.0.0.0: exit %d, want %d", code, exitUsage)
	}
}

// TestUsage verifies the usage errors.
func TestUsage(t *testing.T) {
	for _, args := range [][]string{nil, {"nope"}, {"push"}, {"rollback", "x"}, {"get", "extra"}, {"history", "-n", "0"}} {
		if code := run(context.Background(), args, io.Discard, io.Discard); code != exitUsage {
			t.Errorf("%q: exit %d, want %d", args, code, exitUsage)
		}
	}
}

// TestPushWarnsAdjustedValues verifies that push shows the values the engine
// adjusts, as "rego policy check" does, and still writes the document: a
// warning is for the operator to read, not a reason to refuse.
func TestPushWarnsAdjustedValues(t *testing.T) {
	srv := etcdtest.Start(t)
	doc := `{"policies": {"users.*": {"retry": {"max_attempts": 50}}}}`
	code, _, errOut := regoetcd(t, srv, "push", docFile(t, doc))
	if code != exitOK {
		t.Fatalf("push: exit %d, %q", code, errOut)
	}
	if want := `policies["users.*"].retry.max_attempts: 50 is capped to 10`; !strings.Contains(errOut, want) {
		t.Errorf("stderr lacks %q:\n%s", want, errOut)
	}
}
