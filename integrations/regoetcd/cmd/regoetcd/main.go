// Command regoetcd manages the rego policy document stored in an etcd key,
// which regoetcd.NewProvider serves to a fleet:
//
//	regoetcd push FILE        validate FILE, then write it with a compare-and-swap
//	regoetcd get              print the document in force
//	regoetcd history          list the earlier revisions still in etcd
//	regoetcd rollback REV     write the document of revision REV again
//	regoetcd dev              run a single-node etcd on 127.0.0.1 for trying it out
//
// Every command but dev takes -endpoints (default 127.0.0.1:2379), -key
// (default /rego/policies) and -timeout. Exit codes: 0 success, 1 failure
// (an invalid document, etcd unreachable, ...), 2 usage error, 3 conflict (the
// key changed since the revision the write was based on; nothing was written).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"go.etcd.io/etcd/client/pkg/v3/transport"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

const (
	exitOK       = 0
	exitFail     = 1
	exitUsage    = 2
	exitConflict = 3
)

// Defaults of the common flags.
const (
	defaultEndpoints = "127.0.0.1:2379"
	defaultKey       = "/rego/policies"
	defaultTimeout   = 10 * time.Second
)

const usage = `usage:
	regoetcd push [-if-revision REV] FILE
	regoetcd get [-rev REV]
	regoetcd history [-n 20] [-from REV]
	regoetcd rollback [-if-revision REV] REV
	regoetcd dev [-listen 127.0.0.1:2379] [-peer 127.0.0.1:2380] [-data-dir DIR]

common flags (all but dev):
	-endpoints 127.0.0.1:2379   etcd client endpoints, comma-separated
	-key /rego/policies         the key holding the policy document
	-timeout 10s                bound on the whole command
	-cacert FILE                TLS: verify the server with this CA bundle
	-cert FILE -cert-key FILE   TLS: client certificate and its key
	-user NAME[:PASSWORD]       etcd authentication; without :PASSWORD, the
	                            password is read from $REGOETCD_PASSWORD

push validates FILE (the errors of "rego policy check") and writes it only if
the key's mod revision is still the one it read, or -if-revision REV (the
revision your edit started from, as printed by get; 0 = the key must not
exist). If another write came first, nothing is written and push exits 3.

get prints the document (at -rev REV if given) to stdout, and its revision to
stderr. history lists the earlier revisions still in etcd, newest first
(-from REV starts at REV, e.g. below a deletion). rollback REV validates the
document of revision REV and writes it again, with the same compare-and-swap
as push.

dev runs an embedded single-node etcd on 127.0.0.1 until interrupted, in
-data-dir (kept) or a temporary directory (removed at exit).
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run runs one command and returns its exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	switch args[0] {
	case "push":
		return withClient(ctx, "push", args[1:], stdout, stderr, cmdPush)
	case "get":
		return withClient(ctx, "get", args[1:], stdout, stderr, cmdGet)
	case "history":
		return withClient(ctx, "history", args[1:], stdout, stderr, cmdHistory)
	case "rollback":
		return withClient(ctx, "rollback", args[1:], stdout, stderr, cmdRollback)
	case "dev":
		return cmdDev(ctx, args[1:], stdout, stderr)
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return exitOK
	default:
		fmt.Fprintf(stderr, "regoetcd: unknown command %q\n\n%s", args[0], usage)
		return exitUsage
	}
}

// env is what a command that talks to etcd gets.
type env struct {
	name           string
	cli            *clientv3.Client
	key            string
	endpoints      string
	stdout, stderr io.Writer
}

// errf prints "regoetcd NAME: MESSAGE" to stderr and returns exitFail.
func (e *env) errf(format string, args ...any) int {
	fmt.Fprintf(e.stderr, "regoetcd %s: %s\n", e.name, fmt.Sprintf(format, args...))
	return exitFail
}

// etcdErr reports a failed request, naming the endpoints when etcd could not be
// reached.
func (e *env) etcdErr(err error) int {
	if errors.Is(err, context.DeadlineExceeded) {
		return e.errf("etcd at %s did not answer in time: %v", e.endpoints, err)
	}
	return e.errf("etcd at %s: %v", e.endpoints, err)
}

// command is a subcommand: it registers its flags on fs, and returns the
// function that runs once flags are parsed.
type command func(fs *flag.FlagSet) func(ctx context.Context, e *env, pos []string) int

// withClient parses the common flags and the command's, connects to etcd and
// runs the command.
func withClient(ctx context.Context, name string, args []string, stdout, stderr io.Writer, cmd command) int {
	fs := flag.NewFlagSet("regoetcd "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usage) }
	endpoints := fs.String("endpoints", defaultEndpoints, "etcd client endpoints, comma-separated")
	key := fs.String("key", defaultKey, "the key holding the policy document")
	timeout := fs.Duration("timeout", defaultTimeout, "bound on the whole command")
	cacert := fs.String("cacert", "", "TLS: verify the server with this CA bundle")
	cert := fs.String("cert", "", "TLS: client certificate")
	certKey := fs.String("cert-key", "", "TLS: the client certificate's key")
	user := fs.String("user", "", "etcd user NAME[:PASSWORD] (else $REGOETCD_PASSWORD)")
	runCmd := cmd(fs)
	pos, err := parseArgs(fs, args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if *key == "" || *timeout <= 0 {
		fmt.Fprintf(stderr, "regoetcd %s: -key must not be empty and -timeout must be > 0\n", name)
		return exitUsage
	}
	cfg := clientv3.Config{
		Endpoints:   strings.Split(*endpoints, ","),
		DialTimeout: *timeout,
		Logger:      zap.NewNop(),
	}
	if *cacert != "" || *cert != "" || *certKey != "" {
		if (*cert == "") != (*certKey == "") {
			fmt.Fprintf(stderr, "regoetcd %s: -cert and -cert-key go together\n", name)
			return exitUsage
		}
		info := transport.TLSInfo{TrustedCAFile: *cacert, CertFile: *cert, KeyFile: *certKey}
		if cfg.TLS, err = info.ClientConfig(); err != nil {
			fmt.Fprintf(stderr, "regoetcd %s: TLS: %v\n", name, err)
			return exitFail
		}
	}
	if *user != "" {
		var ok bool
		if cfg.Username, cfg.Password, ok = strings.Cut(*user, ":"); !ok {
			cfg.Password = os.Getenv("REGOETCD_PASSWORD")
		}
	}
	cli, err := clientv3.New(cfg)
	if err != nil {
		fmt.Fprintf(stderr, "regoetcd %s: %v\n", name, err)
		return exitFail
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	return runCmd(ctx, &env{name: name, cli: cli, key: *key, endpoints: *endpoints, stdout: stdout, stderr: stderr}, pos)
}

// parseArgs parses flags that may come before or after the positional
// arguments ("push FILE -key K" as well as "push -key K FILE") and returns
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
		if consumed := len(args) - len(rest); consumed > 0 && args[consumed-1] == "--" {
			return append(pos, rest...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}
