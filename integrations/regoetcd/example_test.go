package regoetcd_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/regoresilience/rego"
	"github.com/regoresilience/rego/integrations/regoetcd"
	"github.com/regoresilience/rego/integrations/regoetcd/internal/devetcd"
)

// exampleEtcd starts a real single-node etcd on 127.0.0.1 for the example,
// as "regoetcd dev" does, and returns its endpoint and a stop function.
func exampleEtcd() (string, func()) {
	dir, err := os.MkdirTemp("", "regoetcd-example-")
	if err != nil {
		panic(err)
	}
	srv, err := devetcd.Start(devetcd.Config{Dir: dir, ClientAddr: "127.0.0.1:0", PeerAddr: "127.0.0.1:0"})
	if err != nil {
		panic(err)
	}
	return srv.Endpoint(), func() { srv.Close(); os.RemoveAll(dir) }
}

func ExampleNewProvider() {
	endpoint, stop := exampleEtcd() // for instance "127.0.0.1:2379"
	defer stop()

	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{endpoint}, DialTimeout: 5 * time.Second})
	if err != nil {
		panic(err)
	}
	defer cli.Close()
	// What "regoetcd push" does, without its validation and compare-and-swap.
	doc := `{"policies": {"db.*": {"retry": {"max_attempts": 3}}}}`
	if _, err := cli.Put(context.Background(), "/rego/policies", doc); err != nil {
		panic(err)
	}

	p, err := regoetcd.NewProvider(cli, "/rego/policies",
		regoetcd.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		panic(err)
	}
	defer p.Close()

	s := p.Current()
	pol, pattern, _ := s.Set.Resolve(rego.ParseKey("db.Query"))
	fmt.Println(s.Source, pattern, pol.Retry.MaxAttempts, s.Version == uint64(s.Revision))
	st := p.Status()
	fmt.Println(st.State, st.LastError)
	// Output:
	// etcd db.* 3 true
	// watching <nil>
}
