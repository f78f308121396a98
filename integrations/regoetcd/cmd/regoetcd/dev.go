package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"os"

	"github.com/regoresilience/rego/integrations/regoetcd/internal/devetcd"
)

// cmdDev runs an embedded single-node etcd until ctx ends or the server fails.
// It serves plain HTTP without authentication, so it listens on loopback only.
func cmdDev(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("regoetcd dev", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usage) }
	listen := fs.String("listen", "127.0.0.1:2379", "client address (loopback only)")
	peer := fs.String("peer", "127.0.0.1:2380", "peer address (loopback only)")
	dir := fs.String("data-dir", "", "data directory, kept at exit (default: a temporary one, removed at exit)")
	pos, err := parseArgs(fs, args)
	if err != nil {
		if err == flag.ErrHelp {
			return exitOK
		}
		return exitUsage
	}
	if len(pos) != 0 {
		fmt.Fprintf(stderr, "regoetcd dev: unexpected arguments %q\n\n%s", pos, usage)
		return exitUsage
	}
	for _, a := range []string{*listen, *peer} {
		if !isLoopback(a) {
			fmt.Fprintf(stderr, "regoetcd dev: %q is not a loopback address: the dev server has no TLS and no authentication\n", a)
			return exitUsage
		}
	}
	dataDir := *dir
	if dataDir == "" {
		tmp, err := os.MkdirTemp("", "regoetcd-dev-")
		if err != nil {
			fmt.Fprintf(stderr, "regoetcd dev: %v\n", err)
			return exitFail
		}
		defer os.RemoveAll(tmp)
		dataDir = tmp
	}
	srv, err := devetcd.Start(devetcd.Config{Dir: dataDir, ClientAddr: *listen, PeerAddr: *peer})
	if err != nil {
		fmt.Fprintf(stderr, "regoetcd dev: %v\n", err)
		return exitFail
	}
	defer srv.Close()
	fmt.Fprintf(stdout, "etcd dev server ready on %s (data in %s); Ctrl-C stops it\n", srv.Endpoint(), dataDir)
	if *listen != "127.0.0.1:2379" {
		fmt.Fprintf(stdout, "  give the other commands -endpoints %s\n", srv.ClientAddr)
	}
	select {
	case <-ctx.Done():
		fmt.Fprintln(stdout, "stopping")
		return exitOK
	case err := <-srv.Err():
		fmt.Fprintf(stderr, "regoetcd dev: %v\n", err)
		return exitFail
	}
}

func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
