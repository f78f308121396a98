package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.etcd.io/etcd/client/pkg/v3/transport"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/regoresilience/rego/integrations/regoetcd/internal/devetcd"
)

// TestTLSAndAuth verifies the connection flags against a real etcd serving
// TLS (a self-signed certificate, its own CA) with authentication enabled:
// -cacert and -user (or $REGOETCD_PASSWORD) get through; without them the
// command fails.
func TestTLSAndAuth(t *testing.T) {
	dir := t.TempDir()
	srv, err := devetcd.Start(devetcd.Config{Dir: dir, ClientAddr: "127.0.0.1:0", PeerAddr: "127.0.0.1:0", AutoTLS: true})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	ca := filepath.Join(dir, "fixtures", "client", "cert.pem")
	tlsCfg, err := transport.TLSInfo{TrustedCAFile: ca}.ClientConfig()
	if err != nil {
		t.Fatal(err)
	}
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{srv.ClientAddr}, TLS: tlsCfg, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, step := range []func() error{
		func() error { _, err := cli.UserAdd(ctx, "root", "s3cret"); return err },
		func() error { _, err := cli.UserGrantRole(ctx, "root", "root"); return err },
		func() error { _, err := cli.AuthEnable(ctx); return err },
	} {
		if err := step(); err != nil {
			cli.Close()
			t.Fatal(err)
		}
	}
	cli.Close()

	cmd := func(args ...string) (int, string) {
		var out, errOut bytes.Buffer
		code := run(ctx, append(args, "-endpoints", srv.ClientAddr, "-timeout", "3s"), &out, &errOut)
		return code, out.String() + errOut.String()
	}
	if code, out := cmd("push", "-cacert", ca, "-user", "root:s3cret", docFile(t, docA)); code != exitOK {
		t.Fatalf("push over TLS with a user: exit %d, %s", code, out)
	}
	t.Setenv("REGOETCD_PASSWORD", "s3cret")
	if code, out := cmd("get", "-cacert", ca, "-user", "root"); code != exitOK || !strings.Contains(out, "max_attempts") {
		t.Errorf("get with $REGOETCD_PASSWORD: exit %d, %s", code, out)
	}
	if code, out := cmd("get", "-cacert", ca); code != exitFail {
		t.Errorf("get without a user: exit %d, %s", code, out)
	}
	if code, out := cmd("get", "-user", "root:s3cret"); code != exitFail {
		t.Errorf("get without the CA: exit %d, %s", code, out)
	}
	if code, _ := cmd("get", "-cert", ca); code != exitUsage {
		t.Errorf("-cert without -cert-key: exit %d, want %d", code, exitUsage)
	}
}
