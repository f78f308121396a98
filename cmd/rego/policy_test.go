package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/regoresilience/rego/controlplane"
	"github.com/regoresilience/rego/policy"
)

const (
	policyDocGood = `{"policies": {
  "user-service.*": {"retry": {"max_attempts": 4, "attempt_timeout": "200ms"}, "timeout": "2s"},
  "user-service.GetUser": {"hedge": {"max_hedges": 1, "delay": "50ms"}, "classifier": "http"},
  "*": {"hedge": {"max_hedges": 2, "delay": "20ms", "percentile": 95}}
}}`
	policyDocNext    = `{"policies": {"user-service.*": {"retry": {"max_attempts": 6}}}}`
	policyDocInvalid = `{"policies": {"user-service.GetUser": {"retry": {"max_attempts": 0}}, "db.*": {"hedge": {"percentile": 120}}}}`
)

func writePolicyFile(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "policies.json")
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func runPolicyCmd(args ...string) (code int, stdout, stderr string) {
	var out, errOut bytes.Buffer
	code = runPolicy(args, &out, &errOut)
	return code, out.String(), errOut.String()
}

// TestPolicyCheckValid verifies that check accepts a valid document and prints
// every pattern, sorted, with its effective (normalized) values.
func TestPolicyCheckValid(t *testing.T) {
	path := writePolicyFile(t, policyDocGood)
	code, out, errOut := runPolicyCmd("check", path)
	if code != exitOK {
		t.Fatalf("exit %d, stderr:\n%s", code, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if !strings.Contains(lines[0], "valid, 3 patterns") {
		t.Errorf("header = %q", lines[0])
	}
	var patterns []string
	for _, l := range lines[3:] {
		patterns = append(patterns, strings.Fields(l)[0])
	}
	if got := strings.Join(patterns, " "); got != "* user-service.* user-service.GetUser" {
		t.Errorf("patterns = %q\n%s", got, out)
	}
	for _, want := range []string{
		"4  ",          // max_attempts of user-service.*
		"100ms..5s x2", // defaults filled in
		"200ms",        // attempt timeout
		"1 after 50ms", // fixed hedge
		"2 at p95 (>=100 samples, else 20ms)",
		"http",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

// TestPolicyCheckJSON verifies that -json prints a normalized document that
// parses back to the same policies.
func TestPolicyCheckJSON(t *testing.T) {
	path := writePolicyFile(t, policyDocGood)
	for _, args := range [][]string{{"check", "-json", path}, {"check", path, "-json"}} {
		code, out, errOut := runPolicyCmd(args...)
		if code != exitOK {
			t.Fatalf("%v: exit %d, stderr:\n%s", args, code, errOut)
		}
		got, err := policy.ParseDocument([]byte(out))
		if err != nil {
			t.Fatalf("%v: output does not parse: %v\n%s", args, err, out)
		}
		want, _ := policy.ParseDocument([]byte(policyDocGood))
		if !got.Equal(want) {
			t.Errorf("%v: round trip changed the policies:\n%s", args, out)
		}
	}
}

// TestPolicyCheckInvalid verifies that check exits 1 and names the file, each
// pattern and each field at fault.
func TestPolicyCheckInvalid(t *testing.T) {
	path := writePolicyFile(t, policyDocInvalid)
	code, out, errOut := runPolicyCmd("check", path)
	if code != exitFail {
		t.Fatalf("exit %d, want %d", code, exitFail)
	}
	if out != "" {
		t.Errorf("stdout = %q", out)
	}
	for _, want := range []string{path, `"user-service.GetUser"`, "retry.max_attempts", `"db.*"`, "hedge.percentile"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}

	for name, content := range map[string]string{"truncated": policyDocGood[:40], "empty": "", "garbage": "policies: {}"} {
		code, _, errOut := runPolicyCmd("check", writePolicyFile(t, content))
		if code != exitFail || !strings.Contains(errOut, "is invalid") {
			t.Errorf("%s: exit %d, stderr %q", name, code, errOut)
		}
	}
	code, _, errOut = runPolicyCmd("check", filepath.Join(t.TempDir(), "missing.json"))
	if code != exitFail || !strings.Contains(errOut, "missing.json") {
		t.Errorf("missing file: exit %d, stderr %q", code, errOut)
	}
}

// TestPolicyUsage verifies exit code 2 for command-line mistakes, 0 for help.
func TestPolicyUsage(t *testing.T) {
	path := writePolicyFile(t, policyDocGood)
	for _, args := range [][]string{
		{},
		{"frobnicate"},
		{"check"},
		{"check", path, path},
		{"check", "-nope", path},
		{"serve"},
		{"serve", path, "-addr"},
		{"serve", path, "-poll", "0s"},
		{"serve", path, "extra"},
	} {
		if code, _, errOut := runPolicyCmd(args...); code != exitUsage || errOut == "" {
			t.Errorf("%q: exit %d (stderr %q), want %d", args, code, errOut, exitUsage)
		}
	}
	for _, args := range [][]string{{"help"}, {"-h"}, {"check", "-h"}, {"serve", "-h"}} {
		if code, _, _ := runPolicyCmd(args...); code != exitOK {
			t.Errorf("%q: exit %d, want 0", args, code)
		}
	}
}

// TestParseArgs verifies flags before, after and between positionals, and "--".
func TestParseArgs(t *testing.T) {
	for _, tt := range []struct {
		args []string
		pos  string
		addr string
	}{
		{[]string{"f.json"}, "f.json", "d"},
		{[]string{"f.json", "-addr", "x"}, "f.json", "x"},
		{[]string{"-addr", "x", "f.json"}, "f.json", "x"},
		{[]string{"a", "-addr", "x", "b"}, "a b", "x"},
		{[]string{"-addr", "x", "--", "-f.json"}, "-f.json", "x"},
	} {
		fs := newFlagSet("t", io.Discard)
		addr := fs.String("addr", "d", "")
		pos, err := parseArgs(fs, tt.args)
		if err != nil || strings.Join(pos, " ") != tt.pos || *addr != tt.addr {
			t.Errorf("parseArgs(%q) = %q, addr %q, %v", tt.args, pos, *addr, err)
		}
	}
}

// syncBuffer is a bytes.Buffer safe for the server's log writes.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// startServe runs serveProvider on a 127.0.0.1 listener with a file provider
// that reloads only when the test calls Reload. It returns the provider, the
// base URL and a stop function returning the exit code.
func startServe(t *testing.T, path string) (*controlplane.FileProvider, string, func() int) {
	t.Helper()
	var stderr syncBuffer
	logger := slog.New(slog.NewTextHandler(&stderr, nil))
	fp, err := controlplane.NewFile(path, controlplane.WithLogger(logger),
		controlplane.WithTrigger(make(chan time.Time)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fp.Close() })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	code := make(chan int, 1)
	var stdout syncBuffer
	go func() { code <- serveProvider(ctx, fp, path, ln, &stdout, logger) }()
	stopped := false
	var exit int
	stop := func() int {
		if !stopped {
			stopped = true
			cancel()
			exit = <-code
			if !strings.Contains(stdout.String(), "stopped") {
				t.Errorf("stdout = %q", stdout.String())
			}
		}
		return exit
	}
	t.Cleanup(func() { stop() })
	return fp.(*controlplane.FileProvider), "http://" + ln.Addr().String(), stop
}

func mustReload(t *testing.T, r controlplane.Reloader) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return r.Reload(ctx)
}

func attemptsFor(t *testing.T, p controlplane.Provider, key string) int {
	t.Helper()
	pol, _, ok := p.Current().Set.Resolve(policy.ParseKey(key))
	if !ok {
		return 0
	}
	return pol.Retry.MaxAttempts
}

// TestPolicyServe runs serve on 127.0.0.1 and points controlplane.NewRemote at
// it: the document arrives, an unchanged one is a 304, an invalid edit keeps
// the last good document served, a valid edit is served as a new version.
func TestPolicyServe(t *testing.T) {
	path := writePolicyFile(t, policyDocGood)
	fp, base, stop := startServe(t, path)

	remote, err := controlplane.NewRemote(base+"/policies",
		controlplane.WithTrigger(make(chan time.Time)),
		controlplane.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	defer remote.Close()
	rr := remote.(controlplane.Reloader)
	if s := remote.Current(); s.Version != 1 || s.Source != controlplane.SourceRemote || attemptsFor(t, remote, "user-service.List") != 4 {
		t.Fatalf("remote snapshot = %+v", s)
	}

	// ETag / If-None-Match.
	resp, err := http.Get(base + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	etag := resp.Header.Get("ETag")
	if resp.StatusCode != http.StatusOK || etag == "" || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("GET = %d, headers %v", resp.StatusCode, resp.Header)
	}
	if _, err := policy.ParseDocument(body); err != nil {
		t.Fatalf("served document does not parse: %v", err)
	}
	for _, inm := range []string{etag, "W/" + etag, `"other", ` + etag, "*"} {
		if code := statusOf(t, http.MethodGet, base+"/", inm); code != http.StatusNotModified {
			t.Errorf("If-None-Match %s: status %d, want 304", inm, code)
		}
	}
	if code := statusOf(t, http.MethodGet, base+"/", `"other"`); code != http.StatusOK {
		t.Errorf("non-matching If-None-Match: status %d", code)
	}
	if err := mustReload(t, rr); err != nil {
		t.Fatalf("remote Reload (304): %v", err)
	}
	if v := remote.Current().Version; v != 1 {
		t.Errorf("version after 304 = %d", v)
	}

	// An invalid edit: rejected, the last good document is still served.
	if err := os.WriteFile(path, []byte(policyDocInvalid), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := mustReload(t, fp); !errors.Is(err, policy.ErrInvalidPolicy) {
		t.Fatalf("file Reload of an invalid edit = %v", err)
	}
	if err := mustReload(t, rr); err != nil {
		t.Fatalf("remote Reload: %v", err)
	}
	if s := remote.Current(); s.Version != 1 || attemptsFor(t, remote, "user-service.List") != 4 {
		t.Errorf("after an invalid edit: version %d, attempts %d", s.Version, attemptsFor(t, remote, "user-service.List"))
	}
	var st struct {
		Version             uint64 `json:"version"`
		LastError           string `json:"last_error"`
		ConsecutiveFailures int    `json:"consecutive_failures"`
	}
	getJSON(t, base+"/status", &st)
	if st.Version != 1 || !strings.Contains(st.LastError, "retry.max_attempts") || st.ConsecutiveFailures != 1 {
		t.Errorf("/status = %+v", st)
	}

	// A valid edit: a new version, served and fetched.
	if err := os.WriteFile(path, []byte(policyDocNext), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := mustReload(t, fp); err != nil {
		t.Fatalf("file Reload: %v", err)
	}
	if err := mustReload(t, rr); err != nil {
		t.Fatalf("remote Reload: %v", err)
	}
	if s := remote.Current(); s.Version != 2 || attemptsFor(t, remote, "user-service.List") != 6 {
		t.Errorf("after a valid edit: version %d, attempts %d", s.Version, attemptsFor(t, remote, "user-service.List"))
	}

	// Other methods and paths.
	if code := statusOf(t, http.MethodHead, base+"/", ""); code != http.StatusOK {
		t.Errorf("HEAD: %d", code)
	}
	if code := statusOf(t, http.MethodPost, base+"/", ""); code != http.StatusMethodNotAllowed {
		t.Errorf("POST: %d", code)
	}
	if code := statusOf(t, http.MethodGet, base+"/nope", ""); code != http.StatusNotFound {
		t.Errorf("GET /nope: %d", code)
	}

	if code := stop(); code != exitOK {
		t.Errorf("serve exit %d", code)
	}
	if _, err := http.Get(base + "/"); err == nil {
		t.Error("server still answering after stop")
	}
}

// TestServePolicy runs the whole serve path (file, listen, serve, stop) on an
// ephemeral port read from its first line of output.
func TestServePolicy(t *testing.T) {
	path := writePolicyFile(t, policyDocGood)
	pr, pw := io.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	code := make(chan int, 1)
	var stderr syncBuffer
	go func() {
		code <- servePolicy(ctx, path, "127.0.0.1:0", pw, &stderr)
		pw.Close()
	}()
	sc := bufio.NewScanner(pr)
	if !sc.Scan() {
		t.Fatalf("no output; stderr: %s", stderr.String())
	}
	first := sc.Text()
	drained := make(chan struct{})
	go func() { _, _ = io.Copy(io.Discard, pr); close(drained) }()
	_, rest, ok := strings.Cut(first, "http://")
	addr, _, _ := strings.Cut(rest, "/")
	if !ok || !strings.Contains(first, "version 1, 3 patterns") {
		t.Fatalf("first line = %q", first)
	}
	if c := statusOf(t, http.MethodGet, "http://"+addr+"/", ""); c != http.StatusOK {
		t.Errorf("GET: %d", c)
	}
	cancel()
	if c := <-code; c != exitOK {
		t.Errorf("exit %d, stderr: %s", c, stderr.String())
	}
	<-drained
}

// TestServePolicyErrors verifies exit 1 for an invalid file or a busy address.
func TestServePolicyErrors(t *testing.T) {
	var stderr bytes.Buffer
	if c := servePolicy(context.Background(), writePolicyFile(t, policyDocInvalid), "127.0.0.1:0", io.Discard, &stderr); c != exitFail ||
		!strings.Contains(stderr.String(), "retry.max_attempts") {
		t.Errorf("invalid file: exit %d, stderr %q", c, stderr.String())
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	stderr.Reset()
	if c := servePolicy(context.Background(), writePolicyFile(t, policyDocGood), ln.Addr().String(), io.Discard, &stderr); c != exitFail {
		t.Errorf("busy address: exit %d, stderr %q", c, stderr.String())
	}
}

func statusOf(t *testing.T, method, url, ifNoneMatch string) int {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if ifNoneMatch != "" {
		req.Header.Set("If-None-Match", ifNoneMatch)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatal(err)
	}
}

// TestPolicyCheckOnePass verifies that check reports every problem of a
// document at once (decoding and validation problems of one policy alike),
// and still warns about the valid policies.
func TestPolicyCheckOnePass(t *testing.T) {
	path := writePolicyFile(t, `{"policies": {
  "users.*": {"retry": {"max_attempts": -1, "jitter": "bogus"}},
  "db.*": {"timeout": "-1s", "breaker": {"failure_rate": 150}},
  "cache.*": {"retry": {"max_attempts": 50}}
}}`)
	code, out, errOut := runPolicyCmd("check", path)
	if code != exitFail || out != "" {
		t.Fatalf("exit %d, stdout %q", code, out)
	}
	want := "rego policy check: " + path + ` is invalid (4 problems):
  policies["users.*"].retry.jitter: unknown mode "bogus" (want "full", "equal", "decorrelated" or "none")
  policies["users.*"].retry.max_attempts: must be >= 1
  policies["db.*"].timeout: must not be negative (got "-1s")
  policies["db.*"].breaker.failure_rate: must be > 0 and <= 100
rego policy check: ` + path + `: 1 warning:
  policies["cache.*"].retry.max_attempts: 50 is capped to 10 (each extra attempt multiplies the load on a failing backend)
`
	if errOut != want {
		t.Errorf("stderr:\n%s\nwant:\n%s", errOut, want)
	}
}

// TestPolicyCheckWarnings verifies that a valid document with clamped values
// and registry names passes, with one warning each on stderr, and that
// stdout stays the table (or pure JSON with -json).
func TestPolicyCheckWarnings(t *testing.T) {
	path := writePolicyFile(t, `{"policies": {"x.Y": {"retry": {"max_attempts": 50},
  "hedge": {"max_hedges": 20, "delay": "10ms"}, "classifier": "http", "retry_budget": "shared",
  "breaker": {"failure_rate": 50, "half_open_probes": 1}}}}`)
	code, out, errOut := runPolicyCmd("check", path)
	if code != exitOK {
		t.Fatalf("exit %d, stderr:\n%s", code, errOut)
	}
	want := "rego policy check: " + path + `: 4 warnings:
  policies["x.Y"].retry.max_attempts: 50 is capped to 10 (each extra attempt multiplies the load on a failing backend)
  policies["x.Y"].hedge.max_hedges: 20 is capped to 5 (each hedge adds load to every slow call)
  policies["x.Y"].classifier: "http" is not built in: it must be registered in your program with WithClassifier (regohttp.WithHTTPClassifier() does it)
  policies["x.Y"].retry_budget: "shared" is not built in: it must be registered in your program with WithBudget
`
	if errOut != want {
		t.Errorf("stderr:\n%s\nwant:\n%s", errOut, want)
	}
	for _, s := range []string{"valid, 1 pattern,", "BREAKER", "50% of >=20 in 10s, open 10s, 1 probe", "5 after 10ms"} {
		if !strings.Contains(out, s) {
			t.Errorf("stdout lacks %q:\n%s", s, out)
		}
	}
	code, out, errOut = runPolicyCmd("check", "-json", path)
	if _, err := policy.ParseDocument([]byte(out)); code != exitOK || err != nil || !strings.Contains(errOut, "4 warnings") {
		t.Errorf("-json: exit %d, %v, stderr:\n%s", code, err, errOut)
	}
}
