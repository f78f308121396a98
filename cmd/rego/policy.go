package main

// rego policy check|serve: validate a policy document, or serve it as a small
// control plane that controlplane.NewRemote can point at.
//
// Ownership: serve's HTTP handlers read the policies only through the
// controlplane.Provider (an atomic snapshot) and a rendered copy of the
// document cached per snapshot version; the provider's own goroutine reloads
// the file. stdout is written only by the goroutine running the command; logs
// go to stderr through slog, which serialises them.

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/regoresilience/rego/controlplane"
	"github.com/regoresilience/rego/policy"
)

const policyUsage = `usage:
	rego policy check [-json] FILE
	rego policy serve FILE [-addr 127.0.0.1:8700] [-poll 1s]

check validates the policy document FILE and prints the effective policy of
each key pattern (normalized: every default spelled out), sorted by pattern.
It exits 1, printing every problem with its pattern and field, if FILE is
invalid. Values the engine adjusts (max_attempts above 10 runs as 10,
max_hedges above 5 as 5, ...) and classifier and budget names, which the
program using the policies must register, are listed as warnings on stderr;
they do not make the document invalid.

serve serves FILE over HTTP as a control plane for controlplane.NewRemote:
GET / (or /policies) returns the normalized document with an ETag (its
SHA-256) and answers 304 to a matching If-None-Match; GET /status reports the
file's load status. FILE is watched: a valid edit is served from the next
poll, an invalid edit is logged and the last good document stays served.
serve stops on SIGINT or SIGTERM.

The document format:

	{"policies": {"svc.Op": {...}, "svc.*": {...}, "*": {...}}}
`

// runPolicy runs "rego policy ARGS..." and returns the exit code: 0 on success,
// 1 when the document is invalid or serving fails, 2 on a usage error.
func runPolicy(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, policyUsage)
		return exitUsage
	}
	switch args[0] {
	case "check":
		return policyCheck(args[1:], stdout, stderr)
	case "serve":
		return policyServe(args[1:], stdout, stderr)
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, policyUsage)
		return exitOK
	default:
		fmt.Fprintf(stderr, "rego policy: unknown subcommand %q\n\n%s", args[0], policyUsage)
		return exitUsage
	}
}

// parseArgs parses flags that may come before or after the positional
// arguments ("serve FILE -addr X" as well as "serve -addr X FILE") and returns
// the positional ones. Everything after "--" is positional.
func parseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		// flag stops at the first non-flag, or after a "--" it consumed.
		if consumed := len(args) - len(rest); consumed > 0 && args[consumed-1] == "--" {
			return append(pos, rest...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// newFlagSet returns a flag set that reports to stderr with the policy usage.
func newFlagSet(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("rego policy "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, policyUsage)
		fmt.Fprintf(stderr, "\nflags of %s:\n", name)
		fs.PrintDefaults()
	}
	return fs
}

// flagExit maps a flag parsing error to an exit code (-h is not a failure).
func flagExit(err error) int {
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	return exitUsage
}

func policyCheck(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("check", stderr)
	asJSON := fs.Bool("json", false, "print the normalized document as indented JSON instead of a table")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return flagExit(err)
	}
	if len(pos) != 1 {
		fmt.Fprintf(stderr, "rego policy check: want exactly one FILE, got %d arguments\n\n%s", len(pos), policyUsage)
		return exitUsage
	}
	file := pos[0]
	data, err := os.ReadFile(file)
	if err != nil {
		fmt.Fprintf(stderr, "rego policy check: %v\n", err)
		return exitFail
	}
	set, warns, err := policy.CheckDocument(data)
	if err != nil {
		lines := strings.Split(err.Error(), "\n")
		fmt.Fprintf(stderr, "rego policy check: %s is invalid (%s):\n", file, plural(len(lines), "problem"))
		for _, line := range lines {
			fmt.Fprintf(stderr, "  %s\n", line)
		}
	}
	warns = append(warns, registryWarnings(set)...)
	// Group by pattern (the registry warnings came last), in field order.
	slices.SortStableFunc(warns, func(a, b policy.Warning) int {
		return strings.Compare(a.Path[:strings.Index(a.Path, "]")], b.Path[:strings.Index(b.Path, "]")])
	})
	if len(warns) > 0 {
		fmt.Fprintf(stderr, "rego policy check: %s: %s:\n", file, plural(len(warns), "warning"))
		for _, w := range warns {
			fmt.Fprintf(stderr, "  %s\n", w)
		}
	}
	if err != nil {
		return exitFail
	}
	if n := int64(len(data)); n > controlplane.DefaultMaxBytes {
		fmt.Fprintf(stderr, "rego policy check: warning: %s is %d bytes, more than the providers' default limit (%d); raise it with controlplane.WithMaxBytes\n",
			file, n, controlplane.DefaultMaxBytes)
	}
	if *asJSON {
		doc, err := policy.MarshalDocument(set)
		if err != nil {
			fmt.Fprintf(stderr, "rego policy check: %v\n", err)
			return exitFail
		}
		_, _ = stdout.Write(doc)
		return exitOK
	}
	sum := sha256.Sum256(data)
	fmt.Fprintf(stdout, "%s: valid, %s, sha256 %s\n\n", file, plural(set.Len(), "pattern"), hex.EncodeToString(sum[:])[:12])
	printPolicyTable(stdout, set)
	return exitOK
}

// printPolicyTable prints one line per pattern, sorted, with the effective
// (normalized) values.
func printPolicyTable(w io.Writer, set *policy.Set) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "PATTERN\tATTEMPTS\tBACKOFF\tJITTER\tATTEMPT TIMEOUT\tMAX RETRY-AFTER\tTIMEOUT\tHEDGE\tBREAKER\tCLASSIFIER\tRETRY BUDGET\tHEDGE BUDGET")
	policies := set.Policies()
	for _, pat := range set.Patterns() {
		p := policies[pat]
		r := p.Retry
		fmt.Fprintf(tw, "%s\t%d\t%v..%v x%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n",
			pat, r.MaxAttempts,
			r.InitialBackoff, r.MaxBackoff, strconv.FormatFloat(r.Multiplier, 'g', -1, 64),
			r.Jitter, orDash(r.AttemptTimeout), orDash(r.MaxRetryAfter), orDash(p.Timeout),
			describeHedge(p.Hedge), describeBreaker(p.Breaker), orName(p.Classifier), orName(p.RetryBudget), orName(p.HedgeBudget))
	}
	tw.Flush()
}

// plural returns n and noun, with an "s" unless n is 1: "1 pattern", "3 patterns".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return strconv.Itoa(n) + " " + noun + "s"
}

// integrationNames are the registry names the integrations register, with
// the option that does it.
var integrationNames = map[string]string{
	"grpc": "regogrpc.WithGRPCClassifier()",
	"http": "regohttp.WithHTTPClassifier()",
}

// registryWarnings flags every classifier and budget a policy names: the
// engine has none built in, so each must be registered by the program that
// runs the policies, or its calls fall back (the default classifier; for a
// budget, the engine's failure mode), with a warning logged once.
func registryWarnings(set *policy.Set) []policy.Warning {
	var warns []policy.Warning
	policies := set.Policies()
	for _, pat := range set.Patterns() {
		p := policies[pat]
		path := "policies[" + strconv.Quote(pat) + "]."
		if name := p.Classifier; name != "" {
			msg := strconv.Quote(name) + " is not built in: it must be registered in your program with WithClassifier"
			if opt, ok := integrationNames[name]; ok {
				msg += " (" + opt + " does it)"
			}
			warns = append(warns, policy.Warning{Path: path + "classifier", Msg: msg})
		}
		for _, b := range []struct{ field, name string }{{"retry_budget", p.RetryBudget}, {"hedge_budget", p.HedgeBudget}} {
			if b.name != "" {
				warns = append(warns, policy.Warning{Path: path + b.field,
					Msg: strconv.Quote(b.name) + " is not built in: it must be registered in your program with WithBudget"})
			}
		}
	}
	return warns
}

func describeHedge(h policy.Hedge) string {
	if h.MaxHedges == 0 {
		return "-"
	}
	if h.Percentile == 0 {
		return fmt.Sprintf("%d after %v", h.MaxHedges, h.Delay)
	}
	s := fmt.Sprintf("%d at p%s (>=%d samples, else %v)", h.MaxHedges,
		strconv.FormatFloat(h.Percentile, 'g', -1, 64), h.MinSamples, h.Delay)
	if h.MinDelay > 0 {
		s += fmt.Sprintf(", min %v", h.MinDelay)
	}
	if h.MaxDelay > 0 {
		s += fmt.Sprintf(", max %v", h.MaxDelay)
	}
	return s
}

// describeBreaker says when the breaker opens, for how long, and how many
// probes close it: "50% of >=20 in 10s, open 10s, 3 probes".
func describeBreaker(b policy.Breaker) string {
	if !b.Enabled() {
		return "-"
	}
	return fmt.Sprintf("%s%% of >=%d in %v, open %v, %s", strconv.FormatFloat(b.FailureRate, 'g', -1, 64),
		b.MinCalls, b.Window, b.OpenDuration, plural(b.HalfOpenProbes, "probe"))
}

func orDash(d time.Duration) string {
	if d == 0 {
		return "-"
	}
	return d.String()
}

func orName(s string) string {
	if s == "" {
		return "default"
	}
	return s
}

func policyServe(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("serve", stderr)
	addr := fs.String("addr", "127.0.0.1:8700", "address to listen on")
	poll := fs.Duration("poll", controlplane.DefaultPollInterval, "how often to look for changes of FILE")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return flagExit(err)
	}
	if len(pos) != 1 {
		fmt.Fprintf(stderr, "rego policy serve: want exactly one FILE, got %d arguments\n\n%s", len(pos), policyUsage)
		return exitUsage
	}
	if *poll <= 0 {
		fmt.Fprintf(stderr, "rego policy serve: -poll must be > 0, got %v\n", *poll)
		return exitUsage
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return servePolicy(ctx, pos[0], *addr, stdout, stderr, controlplane.WithPollInterval(*poll))
}

// servePolicy serves the policy document file on addr until ctx ends, reloading
// it when it changes (opts configure the file provider), and returns the exit
// code (0 after a clean stop).
func servePolicy(ctx context.Context, file, addr string, stdout, stderr io.Writer, opts ...controlplane.FileOption) int {
	logger := slog.New(slog.NewTextHandler(stderr, nil))
	p, err := controlplane.NewFile(file, append([]controlplane.FileOption{controlplane.WithLogger(logger)}, opts...)...)
	if err != nil {
		fmt.Fprintf(stderr, "rego policy serve: %v\n", err)
		return exitFail
	}
	defer p.Close()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Fprintf(stderr, "rego policy serve: %v\n", err)
		return exitFail
	}
	return serveProvider(ctx, p, file, ln, stdout, logger)
}

// serveProvider serves p's policies on ln until ctx ends. It closes ln, not p.
func serveProvider(ctx context.Context, p controlplane.Provider, name string, ln net.Listener, stdout io.Writer, logger *slog.Logger) int {
	h := &policyHandler{p: p}
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      10 * time.Second,
		IdleTimeout:       time.Minute,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	s := p.Current()
	fmt.Fprintf(stdout, "serving %s on http://%s/ (version %d, %s); stop with Ctrl-C\n",
		name, ln.Addr(), s.Version, plural(s.Set.Len(), "pattern"))
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()

	select {
	case err := <-served:
		logger.Error("rego policy serve: server failed", slog.Any("err", err))
		return exitFail
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := srv.Shutdown(shutdownCtx)
	<-served
	if err != nil {
		logger.Warn("rego policy serve: shutdown", slog.Any("err", err))
		srv.Close()
	}
	fmt.Fprintln(stdout, "stopped")
	return exitOK
}

// policyHandler serves the document in force, rendered once per version.
type policyHandler struct {
	p        controlplane.Provider
	rendered atomic.Pointer[renderedDoc] // the latest rendering; replaced when the version changes
}

type renderedDoc struct {
	version uint64
	body    []byte
	etag    string // strong ETag: the quoted hex SHA-256 of body
}

// doc returns the rendering of the snapshot in force.
func (h *policyHandler) doc() (*renderedDoc, error) {
	s := h.p.Current()
	if d := h.rendered.Load(); d != nil && d.version == s.Version {
		return d, nil
	}
	if s.Set == nil {
		return nil, errors.New("no valid policy document loaded")
	}
	body, err := policy.MarshalDocument(s.Set)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(body)
	d := &renderedDoc{version: s.Version, body: body, etag: `"` + hex.EncodeToString(sum[:]) + `"`}
	h.rendered.Store(d) // a racing request may store the same rendering: harmless
	return d, nil
}

func (h *policyHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	switch r.URL.Path {
	case "/", "/policies":
		h.serveDoc(w, r)
	case "/status":
		h.serveStatus(w)
	default:
		http.NotFound(w, r)
	}
}

func (h *policyHandler) serveDoc(w http.ResponseWriter, r *http.Request) {
	d, err := h.doc()
	if err != nil {
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
		return
	}
	hdr := w.Header()
	hdr.Set("ETag", d.etag)
	hdr.Set("Cache-Control", "no-cache")
	hdr.Set("X-Rego-Policy-Version", strconv.FormatUint(d.version, 10))
	if etagMatch(r.Header.Get("If-None-Match"), d.etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	hdr.Set("Content-Type", "application/json")
	hdr.Set("Content-Length", strconv.Itoa(len(d.body)))
	if r.Method == http.MethodHead {
		return
	}
	_, _ = w.Write(d.body)
}

// etagMatch implements If-None-Match's weak comparison (RFC 9110 13.1.2):
// "*" matches, and W/ prefixes are ignored.
func etagMatch(header, etag string) bool {
	if header == "" {
		return false
	}
	for _, candidate := range strings.Split(header, ",") {
		candidate = strings.TrimSpace(candidate)
		if candidate == "*" || strings.TrimPrefix(candidate, "W/") == etag {
			return true
		}
	}
	return false
}

func (h *policyHandler) serveStatus(w http.ResponseWriter) {
	st := h.p.Status()
	out := struct {
		Source              string     `json:"source"`
		Version             uint64     `json:"version"`
		Digest              string     `json:"digest"`
		LastSuccess         *time.Time `json:"last_success,omitempty"`
		LastError           string     `json:"last_error,omitempty"`
		LastErrorAt         *time.Time `json:"last_error_at,omitempty"`
		ConsecutiveFailures int        `json:"consecutive_failures"`
	}{Source: string(st.Source), Version: st.Version, Digest: st.Digest, ConsecutiveFailures: st.ConsecutiveFailures}
	if !st.LastSuccess.IsZero() {
		out.LastSuccess = &st.LastSuccess
	}
	if st.LastError != nil {
		out.LastError = st.LastError.Error()
		out.LastErrorAt = &st.LastErrorAt
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	_ = enc.Encode(out)
}
