package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/regoresilience/rego/controlplane"
	"github.com/regoresilience/rego/policy"
)

// validate checks a document as "rego policy check" does (every problem in
// one pass, then the values the engine adjusts as warnings), and against the
// providers' default size limit (maxBytes). It reports whether the document
// is good; warnings alone do not stop a push.
func (e *env) validate(name string, data []byte, maxBytes int64) (*policy.Set, bool) {
	set, warns, err := policy.CheckDocument(data)
	if err != nil {
		lines := strings.Split(err.Error(), "\n")
		fmt.Fprintf(e.stderr, "regoetcd %s: %s is invalid (%s):\n", e.name, name, plural(len(lines), "problem"))
		for _, line := range lines {
			fmt.Fprintf(e.stderr, "  %s\n", line)
		}
	}
	if len(warns) > 0 {
		fmt.Fprintf(e.stderr, "regoetcd %s: %s: %s:\n", e.name, name, plural(len(warns), "warning"))
		for _, w := range warns {
			fmt.Fprintf(e.stderr, "  %s\n", w)
		}
	}
	if err != nil {
		return nil, false
	}
	if n := int64(len(data)); n > maxBytes {
		e.errf("%s is %d bytes, more than the limit of %d the providers apply (regoetcd.WithMaxBytes; -max-bytes here)", name, n, maxBytes)
		return nil, false
	}
	return set, true
}

// plural returns "1 problem", "2 problems".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return strconv.Itoa(n) + " " + noun + "s"
}

// write puts data at the key if its mod revision is still expect (0: the key
// must not exist; -1: whatever it is now, read first). It prints the outcome
// and returns the exit code: exitConflict when another write came first.
func (e *env) write(ctx context.Context, data []byte, expect int64, what string) int {
	if expect < 0 {
		resp, err := e.cli.Get(ctx, e.key)
		if err != nil {
			return e.etcdErr(err)
		}
		expect = 0
		if len(resp.Kvs) > 0 {
			kv := resp.Kvs[0]
			if bytes.Equal(kv.Value, data) {
				fmt.Fprintf(e.stdout, "%s: unchanged, already at revision %d; nothing written\n", e.key, kv.ModRevision)
				return exitOK
			}
			expect = kv.ModRevision
		}
	}
	resp, err := e.cli.Txn(ctx).
		If(clientv3.Compare(clientv3.ModRevision(e.key), "=", expect)).
		Then(clientv3.OpPut(e.key, string(data))).
		Else(clientv3.OpGet(e.key)).
		Commit()
	if err != nil {
		return e.etcdErr(err)
	}
	if !resp.Succeeded {
		now := "deleted"
		if kvs := resp.Responses[0].GetResponseRange().GetKvs(); len(kvs) > 0 {
			now = fmt.Sprintf("at revision %d", kvs[0].ModRevision)
		}
		based := fmt.Sprintf("revision %d", expect)
		if expect == 0 {
			based = "no key"
		}
		fmt.Fprintf(e.stderr, "regoetcd %s: conflict: %s changed since %s (it is now %s); nothing was written.\n"+
			"  Run \"regoetcd get\", merge your change and push again.\n", e.name, e.key, based, now)
		return exitConflict
	}
	fmt.Fprintf(e.stdout, "%s: %s, now at revision %d (sha256 %s)\n", e.key, what, resp.Header.Revision, shortSum(data))
	return exitOK
}

func cmdPush(fs *flag.FlagSet) func(context.Context, *env, []string) int {
	ifRev := fs.Int64("if-revision", -1, "write only if the key is at this mod revision (0: only if it does not exist)")
	maxBytes := fs.Int64("max-bytes", controlplane.DefaultMaxBytes, "the size limit the providers apply")
	return func(ctx context.Context, e *env, pos []string) int {
		if len(pos) != 1 {
			fmt.Fprintf(e.stderr, "regoetcd push: want exactly one FILE, got %d arguments\n\n%s", len(pos), usage)
			return exitUsage
		}
		data, err := os.ReadFile(pos[0])
		if err != nil {
			return e.errf("%v", err)
		}
		set, ok := e.validate(pos[0], data, *maxBytes)
		if !ok {
			return exitFail
		}
		return e.write(ctx, data, *ifRev, fmt.Sprintf("pushed %s (%d patterns)", pos[0], set.Len()))
	}
}

func cmdGet(fs *flag.FlagSet) func(context.Context, *env, []string) int {
	rev := fs.Int64("rev", 0, "read the document as it was at this revision (0: now)")
	return func(ctx context.Context, e *env, pos []string) int {
		if len(pos) != 0 {
			fmt.Fprintf(e.stderr, "regoetcd get: unexpected arguments %q\n\n%s", pos, usage)
			return exitUsage
		}
		kv, code := e.getAt(ctx, *rev)
		if kv == nil {
			return code
		}
		fmt.Fprintf(e.stderr, "# %s at revision %d (sha256 %s)\n", e.key, kv.ModRevision, shortSum(kv.Value))
		_, _ = e.stdout.Write(kv.Value)
		if !bytes.HasSuffix(kv.Value, []byte("\n")) {
			fmt.Fprintln(e.stdout)
		}
		return exitOK
	}
}

// getAt reads the key at rev (0: now). It returns nil and the exit code when
// there is nothing to return, having said why.
func (e *env) getAt(ctx context.Context, rev int64) (*kv, int) {
	var opts []clientv3.OpOption
	if rev > 0 {
		opts = append(opts, clientv3.WithRev(rev))
	}
	resp, err := e.cli.Get(ctx, e.key, opts...)
	switch {
	case errors.Is(err, rpctypes.ErrCompacted):
		return nil, e.errf("revision %d was compacted away: it is no longer in etcd", rev)
	case errors.Is(err, rpctypes.ErrFutureRev):
		return nil, e.errf("revision %d is in the future", rev)
	case err != nil:
		return nil, e.etcdErr(err)
	case len(resp.Kvs) == 0 && rev > 0:
		return nil, e.errf("%s did not exist at revision %d", e.key, rev)
	case len(resp.Kvs) == 0:
		return nil, e.errf("%s does not exist (never written, or deleted: \"history -from REV\" lists what was there before)", e.key)
	}
	k := resp.Kvs[0]
	return &kv{Value: k.Value, ModRevision: k.ModRevision, CreateRevision: k.CreateRevision}, exitOK
}

// kv is the part of an etcd key-value the commands use.
type kv struct {
	Value                       []byte
	ModRevision, CreateRevision int64
}

func cmdHistory(fs *flag.FlagSet) func(context.Context, *env, []string) int {
	n := fs.Int("n", 20, "list at most this many revisions")
	from := fs.Int64("from", 0, "start at the document in force at this revision (0: now)")
	return func(ctx context.Context, e *env, pos []string) int {
		if len(pos) != 0 || *n <= 0 {
			fmt.Fprintf(e.stderr, "regoetcd history: want no arguments and -n > 0\n\n%s", usage)
			return exitUsage
		}
		cur, code := e.getAt(ctx, *from)
		if cur == nil {
			return code
		}
		tw := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "REVISION\tBYTES\tSHA256\tVALID")
		end := ""
		for i := 0; ; i++ {
			valid := "yes"
			if set, err := policy.ParseDocument(cur.Value); err != nil {
				valid = "no: " + firstLine(err.Error())
			} else {
				valid = fmt.Sprintf("yes, %d patterns", set.Len())
			}
			fmt.Fprintf(tw, "%d\t%d\t%s\t%s\n", cur.ModRevision, len(cur.Value), shortSum(cur.Value), valid)
			if i+1 >= *n {
				end = fmt.Sprintf("(more with -n %d)", 2**n)
				break
			}
			if cur.ModRevision == cur.CreateRevision {
				end = fmt.Sprintf("(created at revision %d)", cur.CreateRevision)
				break
			}
			resp, err := e.cli.Get(ctx, e.key, clientv3.WithRev(cur.ModRevision-1))
			if errors.Is(err, rpctypes.ErrCompacted) {
				end = "(older revisions were compacted away)"
				break
			}
			if err != nil {
				tw.Flush()
				return e.etcdErr(err)
			}
			if len(resp.Kvs) == 0 { // cannot happen after a create; defensive
				break
			}
			k := resp.Kvs[0]
			cur = &kv{Value: k.Value, ModRevision: k.ModRevision, CreateRevision: k.CreateRevision}
		}
		tw.Flush()
		if end != "" {
			fmt.Fprintln(e.stdout, end)
		}
		return exitOK
	}
}

func cmdRollback(fs *flag.FlagSet) func(context.Context, *env, []string) int {
	ifRev := fs.Int64("if-revision", -1, "write only if the key is at this mod revision (0: only if it does not exist)")
	maxBytes := fs.Int64("max-bytes", controlplane.DefaultMaxBytes, "the size limit the providers apply")
	return func(ctx context.Context, e *env, pos []string) int {
		if len(pos) != 1 {
			fmt.Fprintf(e.stderr, "regoetcd rollback: want exactly one REV, got %d arguments\n\n%s", len(pos), usage)
			return exitUsage
		}
		rev, err := strconv.ParseInt(pos[0], 10, 64)
		if err != nil || rev <= 0 {
			fmt.Fprintf(e.stderr, "regoetcd rollback: REV must be a positive revision, got %q\n", pos[0])
			return exitUsage
		}
		old, code := e.getAt(ctx, rev)
		if old == nil {
			return code
		}
		name := fmt.Sprintf("the document of revision %d", old.ModRevision)
		if _, ok := e.validate(name, old.Value, *maxBytes); !ok {
			return exitFail
		}
		return e.write(ctx, old.Value, *ifRev, "rolled back to "+name)
	}
}

func shortSum(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])[:12]
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i] + " ..."
	}
	return s
}
