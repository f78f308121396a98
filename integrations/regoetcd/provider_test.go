package regoetcd

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/regoresilience/rego/controlplane"
	"github.com/regoresilience/rego/integrations/regoetcd/internal/etcdtest"
	"github.com/regoresilience/rego/policy"
)

// TestProviderFollowsKey verifies that NewProvider serves the key's document
// with the mod revision as version, and applies each later put.
func TestProviderFollowsKey(t *testing.T) {
	srv := etcdtest.Start(t)
	cli := srv.Client()
	rev := put(t, cli, docV2)
	p := newProvider(t, cli)
	wantInForce(t, p, 2, rev, SourceEtcd)
	st := p.Status()
	if st.State != StateWatching || st.Revision != rev || st.LastError != nil || st.LastSuccess.IsZero() {
		t.Errorf("Status = %+v", st)
	}

	rev = put(t, cli, docV4)
	p.waitFor(t, "docV4", func(s *controlplane.Snapshot, _ controlplane.Status) bool { return s.Revision == rev })
	wantInForce(t, p, 4, rev, SourceEtcd)

	// The same document written again is a new revision of the key but not a
	// new version of the policies; Status still says which revision it saw.
	again := put(t, cli, docV4)
	p.waitFor(t, "the rewrite", func(_ *controlplane.Snapshot, st controlplane.Status) bool { return st.Revision == again })
	wantInForce(t, p, 4, rev, SourceEtcd)

	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatal("second Close:", err)
	}
	if st := p.Status(); st.State != StateClosed {
		t.Errorf("State after Close = %q", st.State)
	}
	wantInForce(t, p, 4, rev, SourceEtcd)
}

// TestProviderRejectsInvalidAndOversized verifies that an invalid document and
// one over the size limit are rejected whole, the policies in force stay and
// the error is in Status, and that the next valid document applies.
func TestProviderRejectsInvalidAndOversized(t *testing.T) {
	srv := etcdtest.Start(t)
	cli := srv.Client()
	rev := put(t, cli, docV2)
	p := newProvider(t, cli, WithMaxBytes(int64(len(docV4))))
	wantInForce(t, p, 2, rev, SourceEtcd)

	put(t, cli, docInvalid)
	p.waitFor(t, "the invalid document's rejection", failingWith(policy.ErrInvalidPolicy))
	wantInForce(t, p, 2, rev, SourceEtcd)
	var le *controlplane.LoadError
	if st := p.Status(); !errors.As(st.LastError, &le) || le.Origin != "etcd:"+testKey ||
		!strings.Contains(st.LastError.Error(), `policies["svc.Op"].retry.max_attempts`) {
		t.Errorf("LastError = %v, want a *LoadError from etcd:%s naming the field", st.LastError, testKey)
	}

	put(t, cli, docV4+strings.Repeat(" ", 10))
	p.waitFor(t, "the oversized document's rejection", failingWith(controlplane.ErrTooLarge))
	wantInForce(t, p, 2, rev, SourceEtcd)

	rev = put(t, cli, docV4)
	p.waitFor(t, "docV4", func(s *controlplane.Snapshot, _ controlplane.Status) bool { return s.Revision == rev })
	wantInForce(t, p, 4, rev, SourceEtcd)
	if st := p.Status(); st.ConsecutiveFailures != 0 {
		t.Errorf("ConsecutiveFailures = %d after a good document", st.ConsecutiveFailures)
	}
}

// TestProviderKeyDeletedKeepsLastGood verifies that deleting the key keeps the
// policies in force and says so in Status, and that a later put applies.
func TestProviderKeyDeletedKeepsLastGood(t *testing.T) {
	srv := etcdtest.Start(t)
	cli := srv.Client()
	rev := put(t, cli, docV2)
	p := newProvider(t, cli)
	if _, err := cli.Delete(context.Background(), testKey); err != nil {
		t.Fatal(err)
	}
	p.waitFor(t, "the deletion", failingWith(ErrKeyDeleted))
	wantInForce(t, p, 2, rev, SourceEtcd)

	rev = put(t, cli, docV5)
	p.waitFor(t, "docV5", func(s *controlplane.Snapshot, _ controlplane.Status) bool { return s.Revision == rev })
	wantInForce(t, p, 5, rev, SourceEtcd)
}

// TestProviderKeyMissingAtStart verifies that a missing key gives the fallback
// and ErrKeyNotFound, and that the first put applies.
func TestProviderKeyMissingAtStart(t *testing.T) {
	srv := etcdtest.Start(t)
	cli := srv.Client()
	p := newProvider(t, cli)
	wantInForce(t, p, 0, 0, controlplane.SourceFallback)
	if st := p.Status(); !errors.Is(st.LastError, ErrKeyNotFound) || st.State != StateWatching {
		t.Errorf("Status = %+v, want ErrKeyNotFound while watching", st)
	}
	rev := put(t, cli, docV2)
	p.waitFor(t, "docV2", func(s *controlplane.Snapshot, _ controlplane.Status) bool { return s.Revision == rev })
	wantInForce(t, p, 2, rev, SourceEtcd)
}

// TestProviderCompactionPastWatchedRevision verifies that when the revision
// the watch must resume from is compacted away, the provider reads the key
// again and watches from there, applying the latest document.
func TestProviderCompactionPastWatchedRevision(t *testing.T) {
	srv := etcdtest.Start(t)
	cli := srv.Client()
	put(t, cli, docV2)
	var once sync.Once
	var latest int64
	p := newProvider(t, cli, withAfterGet(func() {
		// Between the first Get and its Watch: move on and compact past the
		// revision the watch will ask for.
		once.Do(func() {
			put(t, cli, docV4)
			latest = put(t, cli, docV5)
			if _, err := cli.Compact(context.Background(), latest, clientv3.WithCompactPhysical()); err != nil {
				t.Error(err)
			}
		})
	}))
	p.waitFor(t, "docV5 after the compaction", func(s *controlplane.Snapshot, _ controlplane.Status) bool { return attemptsOf(s) == 5 })
	wantInForce(t, p, 5, latest, SourceEtcd)

	rev := put(t, cli, docV2)
	p.waitFor(t, "docV2 on the new watch", func(s *controlplane.Snapshot, _ controlplane.Status) bool { return s.Revision == rev })
}

// TestProviderEtcdDownAtStart verifies that with etcd unreachable NewProvider
// returns after the Get timeout with the cache file's document, or the
// fallback without one, and picks up the key once etcd is back.
func TestProviderEtcdDownAtStart(t *testing.T) {
	srv := etcdtest.Start(t)
	cli := srv.Client()
	rev := put(t, cli, docV2)
	cache := filepath.Join(t.TempDir(), "cache.json")
	if err := os.WriteFile(cache, []byte(docV4), 0o644); err != nil {
		t.Fatal(err)
	}
	srv.Stop()

	start := time.Now()
	p := newProvider(t, cli, WithCacheFile(cache), WithGetTimeout(200*time.Millisecond))
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("NewProvider took %v with etcd down", d)
	}
	wantInForce(t, p, 4, 0, controlplane.SourceCache)
	bare := newProvider(t, cli, WithGetTimeout(200*time.Millisecond))
	wantInForce(t, bare, 0, 0, controlplane.SourceFallback)
	for _, q := range []*watched{p, bare} {
		if st := q.Status(); st.LastError == nil || st.State == StateWatching {
			t.Errorf("Status with etcd down = %+v", st)
		}
	}

	srv.Restart()
	for _, q := range []*watched{p, bare} {
		q.waitFor(t, "the key after the restart", func(s *controlplane.Snapshot, _ controlplane.Status) bool { return s.Source == SourceEtcd })
		wantInForce(t, q, 2, rev, SourceEtcd)
		q.waitFor(t, "state watching", func(_ *controlplane.Snapshot, st controlplane.Status) bool {
			return st.State == StateWatching && st.ConsecutiveFailures == 0
		})
	}
	// The cache file now holds the document from etcd.
	if got, err := os.ReadFile(cache); err != nil || string(got) != docV2 {
		t.Errorf("cache file = %q, %v; want %q", got, err, docV2)
	}
}

// TestNewProviderInvalidArguments verifies that NewProvider rejects what
// cannot work with errors wrapping controlplane.ErrInvalidOption, without
// contacting etcd.
func TestNewProviderInvalidArguments(t *testing.T) {
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{"http://127.0.0.1:1"}})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	for name, tc := range map[string]struct {
		cli  *clientv3.Client
		key  string
		opts []Option
	}{
		"nil client":     {nil, testKey, nil},
		"empty key":      {cli, "", nil},
		"nil option":     {cli, testKey, []Option{nil}},
		"get timeout":    {cli, testKey, []Option{WithGetTimeout(0)}},
		"backoff":        {cli, testKey, []Option{WithBackoff(time.Second, time.Millisecond)}},
		"cache file":     {cli, testKey, []Option{WithCacheFile("")}},
		"max bytes":      {cli, testKey, []Option{WithMaxBytes(0)}},
		"nil logger":     {cli, testKey, []Option{WithLogger(nil)}},
		"nil clock":      {cli, testKey, []Option{WithClock(nil)}},
		"backoff zero":   {cli, testKey, []Option{WithBackoff(0, time.Second)}},
		"get timeout -1": {cli, testKey, []Option{WithGetTimeout(-1)}},
	} {
		p, err := NewProvider(tc.cli, tc.key, tc.opts...)
		if !errors.Is(err, controlplane.ErrInvalidOption) {
			t.Errorf("%s: err = %v, want ErrInvalidOption", name, err)
		}
		if p != nil {
			p.Close()
		}
	}
}

// TestSamplePolicyFileIsValid keeps the walkthrough's policies.json valid.
func TestSamplePolicyFileIsValid(t *testing.T) {
	data, err := os.ReadFile("policies.json")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := policy.ParseDocument(data); err != nil {
		t.Fatal(err)
	}
}

// TestProviderClientClosedKeepsLastGood verifies that closing the client
// under a running provider (its watch channel closes, every read fails) keeps
// the policies in force, shows in Status, and that Close still returns.
func TestProviderClientClosedKeepsLastGood(t *testing.T) {
	srv := etcdtest.Start(t)
	cli := srv.Client()
	rev := put(t, cli, docV2)
	p := newProvider(t, cli)
	cli.Close()
	p.waitFor(t, "the failure", func(_ *controlplane.Snapshot, st controlplane.Status) bool {
		return st.State == StateDisconnected && st.ConsecutiveFailures > 0
	})
	wantInForce(t, p, 2, rev, SourceEtcd)
	done := make(chan struct{})
	go func() { p.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(defaultTestTimeout):
		t.Fatal("Close did not return")
	}
}

// TestProviderClusterRebuilt verifies that when etcd comes back empty (a
// cluster rebuilt from scratch, its revisions starting over), the provider
// applies the new cluster's document with a still higher version, and follows
// its puts although their revisions are lower than those seen before.
func TestProviderClusterRebuilt(t *testing.T) {
	srv := etcdtest.Start(t)
	cli := srv.Client()
	for range 20 {
		put(t, cli, docV2)
	}
	old := put(t, cli, docV4)
	p := newProvider(t, cli)
	wantInForce(t, p, 4, old, SourceEtcd)

	srv.Stop()
	srv.Rebuild()
	rev := put(t, cli, docV5)
	if rev >= old {
		t.Fatalf("rebuilt cluster at revision %d, not below %d", rev, old)
	}
	p.waitFor(t, "the rebuilt cluster's document", func(s *controlplane.Snapshot, _ controlplane.Status) bool { return attemptsOf(s) == 5 })
	if s := p.Current(); s.Revision != rev || s.Version != uint64(old)+1 {
		t.Errorf("Revision, Version = %d, %d; want %d, %d", s.Revision, s.Version, rev, old+1)
	}
	rev = put(t, cli, docV2)
	p.waitFor(t, "a put on the rebuilt cluster", func(s *controlplane.Snapshot, _ controlplane.Status) bool { return s.Revision == rev })
	if s := p.Current(); attemptsOf(s) != 2 || s.Version != uint64(old)+2 {
		t.Errorf("after a put on the rebuilt cluster: attempts %d, Version %d; want 2, %d", attemptsOf(s), s.Version, old+2)
	}
}
