package main

import (
	"bytes"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

// TestMain checks that no test of the command leaves a goroutine behind: the
// demo's server, client connections and executor, and policy serve.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// runCmd runs one command line through run and returns its exit code and output.
func runCmd(args ...string) (code int, stdout, stderr string) {
	var out, errOut bytes.Buffer
	code = run(args, &out, &errOut)
	return code, out.String(), errOut.String()
}

// TestRunHelp verifies that every spelling of help prints the usage on stdout
// and exits 0.
func TestRunHelp(t *testing.T) {
	for _, arg := range []string{"help", "-h", "-help", "--help"} {
		code, out, errOut := runCmd(arg)
		if code != exitOK {
			t.Errorf("run(%q) = %d, want %d", arg, code, exitOK)
		}
		if !strings.Contains(out, "Usage:") || !strings.Contains(out, "demo") || !strings.Contains(out, "policy") {
			t.Errorf("run(%q) stdout = %q, want the usage listing demo and policy", arg, out)
		}
		if errOut != "" {
			t.Errorf("run(%q) stderr = %q, want nothing", arg, errOut)
		}
	}
}

// TestRunNoCommand verifies that a bare "rego" is a usage error.
func TestRunNoCommand(t *testing.T) {
	code, out, errOut := runCmd()
	if code != exitUsage {
		t.Errorf("run() = %d, want %d", code, exitUsage)
	}
	if out != "" || !strings.Contains(errOut, "Usage:") {
		t.Errorf("run(): stdout %q, stderr %q; want the usage on stderr only", out, errOut)
	}
}

// TestRunUnknownCommand verifies that an unknown command names itself, prints
// the usage on stderr and exits 2.
func TestRunUnknownCommand(t *testing.T) {
	code, out, errOut := runCmd("frobnicate", "-x")
	if code != exitUsage {
		t.Errorf("run(frobnicate) = %d, want %d", code, exitUsage)
	}
	if out != "" {
		t.Errorf("run(frobnicate) stdout = %q, want nothing", out)
	}
	if !strings.Contains(errOut, `unknown command "frobnicate"`) || !strings.Contains(errOut, "Usage:") {
		t.Errorf("run(frobnicate) stderr = %q, want the command named and the usage", errOut)
	}
}

// TestRunHelpCommand verifies that "rego help demo" prints the demo's own flags
// and that help for an unknown command is a usage error.
func TestRunHelpCommand(t *testing.T) {
	code, out, _ := runCmd("help", "demo")
	if code != exitOK {
		t.Errorf("run(help demo) = %d, want %d", code, exitOK)
	}
	for _, want := range []string{"rego demo", "-n", "-fail", "-seed"} {
		if !strings.Contains(out, want) {
			t.Errorf("run(help demo) stdout lacks %q:\n%s", want, out)
		}
	}

	code, _, errOut := runCmd("help", "nope")
	if code != exitUsage || !strings.Contains(errOut, `unknown command "nope"`) {
		t.Errorf("run(help nope) = %d, stderr %q; want %d and the command named", code, errOut, exitUsage)
	}
}

// TestRunDispatchesPolicy verifies that "rego policy" reaches runPolicy: with no
// subcommand it is a usage error, not an unknown command.
func TestRunDispatchesPolicy(t *testing.T) {
	code, _, errOut := runCmd("policy")
	if code != exitUsage {
		t.Errorf("run(policy) = %d, want %d", code, exitUsage)
	}
	if strings.Contains(errOut, "unknown command") && strings.Contains(errOut, `"policy"`) {
		t.Errorf("run(policy) was not dispatched: %q", errOut)
	}
}
