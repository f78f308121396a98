package regoetcd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc/connectivity"

	"github.com/regoresilience/rego/controlplane"
)

// SourceEtcd is the Source of snapshots read from etcd.
const SourceEtcd controlplane.Source = "etcd"

// The values of Status().State: the provider's link to etcd.
const (
	// StateWatching: the key was read and is being watched over a live connection.
	StateWatching = "watching"
	// StateDisconnected: the connection was lost or a Get failed; the provider
	// retries with backoff and serves the policies in force meanwhile.
	StateDisconnected = "disconnected"
	// StateClosed: Close was called.
	StateClosed = "closed"
)

var (
	// ErrKeyNotFound: the key does not exist in etcd. The provider watches it and
	// applies the first valid document put there.
	ErrKeyNotFound = errors.New("key not found")
	// ErrKeyDeleted: the key was deleted. The policies in force stay: a deleted
	// key is treated as an operator mistake, never as "no policies".
	ErrKeyDeleted = errors.New("key deleted; keeping the policies in force")
	// ErrDisconnected: the client lost its connection to etcd.
	ErrDisconnected = errors.New("connection to etcd lost")
	// errWatchClosed: the watch channel closed while the provider was running.
	errWatchClosed = errors.New("watch channel closed")
	// errReconnected ends a watch so that the key is read again after a
	// reconnection; it is never recorded.
	errReconnected = errors.New("reconnected")
)

// provider watches one etcd key and publishes its document through a
// controlplane.Publisher, which owns validation, versions, Status and the
// cache file.
//
// The provider owns two goroutines, both started by NewProvider and ended by
// Close, which cancels ctx and waits for them (wg): run reads and watches the
// key; monitor follows the client's connection state, because run can be
// blocked inside client.Watch while the connection is down. The client is the
// caller's: the provider never closes it.
type provider struct {
	*controlplane.Publisher
	client *clientv3.Client
	key    string
	cfg    config

	ctx       context.Context
	cancel    context.CancelFunc
	wg        sync.WaitGroup
	closeOnce sync.Once

	// disconnected: a lost connection or a failed read was recorded and no read
	// has succeeded since. Set by both goroutines, cleared by run.
	disconnected atomic.Bool
	// reconnected carries monitor's news that a lost connection is back to run,
	// which then reads the key again (capacity 1; a pending signal suffices).
	reconnected chan struct{}

	// Owned by the run goroutine (by NewProvider before it starts it).
	seen     int64 // etcd revision of the key's state last processed; older events are stale
	failures int   // consecutive failed reads, for the backoff
}

// NewProvider returns a controlplane.Provider serving the policy document
// stored at key (the JSON of a policy file, one whole document per key, so an
// update replaces the whole set atomically).
//
// NewProvider reads the key with a Get bounded by WithGetTimeout, then watches
// it from the Get's revision + 1 on a goroutine it owns, until Close (a second
// one follows the client's connection state). Each put
// is validated whole (controlplane.Publisher): a valid document becomes the
// next snapshot, whose Version is the key's mod revision (Revision too); an
// invalid or oversized one is rejected and the policies in force stay. No
// fault loses the policies in force or blocks Current:
//
//   - etcd unreachable at start: NewProvider returns after the Get timeout with
//     the cache file's document (WithCacheFile) or the fallback (the engine
//     default), and keeps trying with backoff (WithBackoff);
//   - the connection lost: Status says StateDisconnected and ErrDisconnected
//     as soon as the client's connection leaves the ready state; the watch
//     resumes where it was, and the key is read again once it is back;
//   - the watch channel closed, or its revision compacted away: Get again, watch
//     again from the new revision;
//   - the key deleted: ErrKeyDeleted in Status, the policies in force stay;
//   - the key missing: ErrKeyNotFound in Status, the first valid put applies.
//
// Status reports the mod revision of the document in force (Revision), the
// connection (State: StateWatching, StateDisconnected, StateClosed), the last
// error (a *controlplane.LoadError whose Origin is "etcd:" + key) and when a
// good document last arrived or was confirmed (LastSuccess).
//
// Close stops the provider's goroutines and waits for them; it does not close
// client, which stays the caller's. A nil client, an empty key and invalid options are
// errors wrapping controlplane.ErrInvalidOption.
func NewProvider(client *clientv3.Client, key string, opts ...Option) (controlplane.Provider, error) {
	cfg := config{
		getTimeout: DefaultGetTimeout,
		backoff:    controlplane.Backoff{Initial: DefaultBackoffInitial, Max: DefaultBackoffMax},
		logger:     slog.Default(),
		rand:       rand.Float64,
	}
	for _, o := range opts {
		if o == nil {
			return nil, invalidOption("nil Option")
		}
		if err := o.apply(&cfg); err != nil {
			return nil, err
		}
	}
	if client == nil {
		return nil, invalidOption("nil etcd client")
	}
	if key == "" {
		return nil, invalidOption("empty key")
	}
	pub, err := controlplane.NewPublisher("etcd:"+key, cfg.pub...)
	if err != nil {
		return nil, err
	}
	p := &provider{Publisher: pub, client: client, key: key, cfg: cfg, reconnected: make(chan struct{}, 1)}
	p.ctx, p.cancel = context.WithCancel(context.Background())
	rev, err := p.read()
	if err != nil {
		p.failed(err)
		if _, cerr := p.LoadCache(); cerr != nil && !errors.Is(cerr, controlplane.ErrNoCacheFile) {
			cfg.logger.Warn("regoetcd: etcd not reachable at start and the cache file is unusable; using the engine default until it is",
				slog.String("key", key), slog.Any("cache_err", cerr))
		}
	}
	p.wg.Add(2)
	go p.run(rev)
	go p.monitor()
	return p, nil
}

// Close stops the provider's goroutines and waits for them. Idempotent; Current keeps
// returning the last snapshot. It does not close the etcd client.
func (p *provider) Close() error {
	p.closeOnce.Do(func() {
		p.cancel()
		p.wg.Wait()
		p.SetState(StateClosed)
	})
	return nil
}

// run is the provider's goroutine: read, watch, and again after each fault,
// until Close. rev is the revision of a successful read, 0 if there is none yet.
func (p *provider) run(rev int64) {
	defer p.wg.Done()
	if rev == 0 && !p.sleep(p.backoff()) { // NewProvider's read failed: back off first
		return
	}
	for {
		if rev == 0 {
			var err error
			if rev, err = p.read(); err != nil {
				p.failed(err)
				if !p.sleep(p.backoff()) {
					return
				}
				continue
			}
		}
		if p.cfg.afterGet != nil {
			p.cfg.afterGet()
		}
		err := p.watch(rev + 1)
		if p.ctx.Err() != nil {
			return
		}
		rev = 0
		switch {
		case errors.Is(err, errReconnected):
		case errors.Is(err, rpctypes.ErrCompacted):
			// The revision to resume from is gone: the next Get starts over.
			p.cfg.logger.Info("regoetcd: watched revision compacted; reading the key again", slog.String("key", p.key))
		default:
			p.failed(err)
			if !p.sleep(p.backoff()) {
				return
			}
		}
	}
}

// read gets the key, publishes what it holds and returns the Get's revision.
func (p *provider) read() (int64, error) {
	ctx, cancel := context.WithTimeout(p.ctx, p.cfg.getTimeout)
	defer cancel()
	resp, err := p.client.Get(ctx, p.key)
	if err != nil {
		return 0, fmt.Errorf("get: %w", err)
	}
	p.failures = 0
	if p.disconnected.Swap(false) {
		p.cfg.logger.Info("regoetcd: connection to etcd restored", slog.String("key", p.key))
	}
	p.SetState(StateWatching)
	rev := resp.Header.Revision
	if len(resp.Kvs) == 0 {
		p.seen = rev
		p.RecordFailure(ErrKeyNotFound)
		p.notify()
		return rev, nil
	}
	// A Get is linearizable: what it returns is at least as new as any event
	// already applied, so it is published as is (the document in force comes
	// back as an identical one, which ends a failure streak), and the next
	// watch starts after its revision, even a lower one than before: a cluster
	// rebuilt from scratch restarts its revisions.
	kv := resp.Kvs[0]
	p.seen = rev
	p.Publish(kv.Value, SourceEtcd, kv.ModRevision) // a rejection is recorded by Publish
	p.notify()
	return rev, nil
}

// watch watches the key from revision from until the watch must be restarted
// (its error says why) or the provider closes (nil).
func (p *provider) watch(from int64) error {
	ctx, cancel := context.WithCancel(clientv3.WithRequireLeader(p.ctx))
	defer cancel()                                            // releases the watcher on the client
	wch := p.client.Watch(ctx, p.key, clientv3.WithRev(from)) // blocks while the connection is down
	for {
		select {
		case <-p.ctx.Done():
			return nil
		case resp, ok := <-wch:
			if !ok {
				return errWatchClosed
			}
			if err := resp.Err(); err != nil { // compacted, or canceled by the server (no leader)
				return fmt.Errorf("watch: %w", err)
			}
			for _, ev := range resp.Events {
				p.apply(ev)
			}
		case <-p.reconnected:
			return errReconnected
		}
	}
}

// apply handles one watch event, skipping those older than what was read.
func (p *provider) apply(ev *clientv3.Event) {
	rev := ev.Kv.ModRevision
	if rev <= p.seen {
		return
	}
	p.seen = rev
	switch ev.Type {
	case mvccpb.PUT:
		p.Publish(ev.Kv.Value, SourceEtcd, rev)
	case mvccpb.DELETE:
		p.RecordFailure(fmt.Errorf("%w (revision %d)", ErrKeyDeleted, rev))
	}
	p.notify()
}

// monitor is the provider's second goroutine: it follows the client's
// connection state until Close. It records a lost connection once (run may be
// blocked in client.Watch meanwhile, and could not), and tells run when a lost
// connection is back, so that run reads the key again: the watch resumes by
// itself, and the read confirms the document in force and ends the failure
// streak.
func (p *provider) monitor() {
	defer p.wg.Done()
	conn := p.client.ActiveConnection()
	if conn == nil {
		return
	}
	for {
		state := conn.GetState()
		if state == connectivity.Ready {
			if p.disconnected.Load() {
				select {
				case p.reconnected <- struct{}{}:
				default:
				}
			}
		} else if p.disconnected.CompareAndSwap(false, true) {
			p.SetState(StateDisconnected)
			p.RecordFailure(fmt.Errorf("%w (%v)", ErrDisconnected, state))
			p.notify()
		}
		if !conn.WaitForStateChange(p.ctx, state) {
			return // Close
		}
	}
}

// failed records a failed read or watch and counts it for the backoff.
func (p *provider) failed(err error) {
	p.failures++
	p.disconnected.Store(true)
	p.SetState(StateDisconnected)
	p.RecordFailure(err)
	p.notify()
}

// backoff is the wait after the current failure streak (WithBackoff).
func (p *provider) backoff() time.Duration {
	return p.cfg.backoff.Delay(p.failures, p.cfg.rand())
}

// sleep waits d, or until Close; it reports whether the provider is still open.
func (p *provider) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-p.ctx.Done():
		return false
	}
}

func (p *provider) notify() {
	if p.cfg.afterEvent != nil {
		p.cfg.afterEvent()
	}
}
