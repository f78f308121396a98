// Command reader makes a call every second under the policies stored in etcd
// at /rego/policies, and prints the policy in force: the last step of the
// walkthrough in docs/etcd.md. Edit policies.json and push it again to see the
// change arrive; stop etcd to see the last good policy stay. Ctrl-C stops it.
package main

import (
	"context"
	"fmt"
	"log"
	"os"
	"os/signal"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/regoresilience/rego"
	"github.com/regoresilience/rego/engine"
	"github.com/regoresilience/rego/integrations/regoetcd"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()

	cli, err := clientv3.New(clientv3.Config{
		Endpoints:   []string{"127.0.0.1:2379"},
		DialTimeout: 5 * time.Second,
	})
	if err != nil {
		log.Fatal(err)
	}
	defer cli.Close()

	// The provider reads the key, then watches it; the cache file serves the
	// last good document if etcd is down when the program starts.
	p, err := regoetcd.NewProvider(cli, "/rego/policies",
		regoetcd.WithCacheFile(os.TempDir()+"/rego-policies.cache.json"))
	if err != nil {
		log.Fatal(err)
	}
	defer p.Close()

	exec, err := rego.NewExecutor(engine.WithProvider(p))
	if err != nil {
		log.Fatal(err)
	}
	defer exec.Close()

	key := rego.ParseKey("user-service.GetUser")
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		err := exec.Do(ctx, key, func(ctx context.Context) error {
			return nil // call the user service here
		})
		pol, pattern, _ := p.Current().Set.Resolve(key)
		st := p.Status()
		fmt.Printf("revision %d, %s: %s max_attempts=%d (call: %v, last error: %v)\n",
			st.Revision, st.State, pattern, pol.Retry.MaxAttempts, err, st.LastError)
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}
