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
//	policy   check or serve a policy document (rego policy check|serve)
//	help     print this help, or a command's help: rego help demo
//
// Start with:
//
//	go run ./cmd/rego demo
package main

import (
	"fmt"
	"io"
	"os"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
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
	policy   check or serve a policy document (rego policy check|serve)
	help     print this help, or a command's help (rego help demo)

Start with: go run ./cmd/rego demo
`

// run dispatches one command line (without the program name) and returns the
// process exit code. It writes only to stdout and stderr, so tests drive it
// directly.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usageText)
		return exitUsage
	}
	switch cmd := args[0]; cmd {
	case "demo":
		return runDemo(args[1:], stdout, stderr)
	case "policy":
		return runPolicy(args[1:], stdout, stderr)
	case "help", "-h", "-help", "--help":
		if len(args) > 1 && cmd == "help" {
			switch args[1] {
			case "demo", "policy":
				// Each command prints its own flags for -h.
				return run([]string{args[1], "-h"}, stdout, stderr)
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
