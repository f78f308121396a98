// Command rego is the command-line companion of the rego resilience library.
//
// Usage:
//
//	rego <command> [arguments]
//
// The commands are:
//
//	demo     run a few thousand HTTP calls against a flaky local server under
//	         three policies (no retry, retry, retry + hedge) and compare them
//	sim      replay a latency trace through the engine on virtual time under
//	         a grid of policies and recommend one
//	policy   check or serve a policy document (rego policy check|serve)
//	help     print this help, or a command's help: rego help demo
//
// Start with:
//
//	go run ./cmd/rego demo
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
)

func main() {
	// Ctrl-C cancels ctx: the demo and the simulation stop and print what
	// they measured so far. A second Ctrl-C kills the process (stop restores
	// the default handling once the first has arrived).
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	context.AfterFunc(ctx, stop)
	code := runCtx(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// Exit codes, as the Go flag package uses them.
const (
	exitOK    = 0
	exitFail  = 1 // the command ran and failed
	exitUsage = 2 // the command line is wrong
)

const usageText = `rego is the command-line companion of the rego resilience library.

Usage:

	rego <command> [arguments]

The commands are:

	demo     compare no retry, retry and retry + hedge against a flaky local HTTP server
	sim      replay a latency trace on virtual time and recommend a policy
	policy   check or serve a policy document (rego policy check|serve)
	help     print this help, or a command's help (rego help demo)

Start with: go run ./cmd/rego demo
`

// run dispatches one command line (without the program name) and returns the
// process exit code. It writes only to stdout and stderr, so tests drive it
// directly.
func run(args []string, stdout, stderr io.Writer) int {
	return runCtx(context.Background(), args, stdout, stderr)
}

// runCtx is run with a context: its end interrupts the demo or a simulation.
func runCtx(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usageText)
		return exitUsage
	}
	switch cmd := args[0]; cmd {
	case "demo":
		return runDemo(ctx, args[1:], stdout, stderr)
	case "sim":
		return runSim(ctx, args[1:], stdout, stderr)
	case "policy":
		return runPolicy(args[1:], stdout, stderr)
	case "help", "-h", "-help", "--help":
		if len(args) > 1 && cmd == "help" {
			switch args[1] {
			case "demo", "policy", "sim":
				// Each command prints its own flags for -h.
				return runCtx(ctx, []string{args[1], "-h"}, stdout, stderr)
			}
			fmt.Fprintf(stderr, "rego help: unknown command %q\n\n", args[1])
			fmt.Fprint(stderr, usageText)
			return exitUsage
		}
		fmt.Fprint(stdout, usageText)
		return exitOK
	default:
		fmt.Fprintf(stderr, "rego: unknown command %q\n\n", cmd)
		fmt.Fprint(stderr, usageText)
		return exitUsage
	}
}
