package keyworker

import (
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/regoresilience/rego/policy"
)

// TestCacheComparesByValue verifies the lookup cache never returns another
// key's worker, whatever slot a key's string addresses map to, and that equal
// keys built from different strings find the same worker.
func TestCacheComparesByValue(t *testing.T) {
	p := newPool(t, Config{})
	const n = 4 * cacheSlots // more keys than slots: collisions are certain
	keys := make([]policy.Key, n)
	workers := make([]*Worker[snap], n)
	for i := range keys {
		keys[i] = policy.Key{Namespace: "svc", Name: "Op" + strings.Repeat("x", i%7) + string(rune('a'+i%26)) + itoa(i)}
		workers[i], _ = p.Get(keys[i])
	}
	for round := range 3 {
		for i, k := range keys {
			// A copy of the key with freshly allocated strings: other slots.
			fresh := policy.Key{Namespace: strings.Clone(k.Namespace), Name: strings.Clone(k.Name)}
			for _, q := range []policy.Key{k, fresh} {
				w, ok := p.Lookup(q)
				if !ok || w != workers[i] || w.Key() != k {
					t.Fatalf("round %d: Lookup(%v) = %v, %v; want worker of %v", round, q, w.Key(), ok, k)
				}
			}
		}
	}
}

// TestCacheIgnoresEvicted verifies a worker evicted by the janitor is not
// served from the cache: the next call gets a new worker, and the sweep
// clears the cache's pointer so the evicted worker can be collected.
func TestCacheIgnoresEvicted(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newPool(t, Config{IdleTimeout: time.Second})
		k := policy.ParseKey("svc.Op")
		old, _ := p.Get(k)
		if w, _ := p.Lookup(k); w != old {
			t.Fatal("Lookup missed the worker Get created")
		}
		<-time.After(3 * time.Second) // two sweeps find it unused: evicted
		if !old.evicted.Load() || p.Len() != 0 {
			t.Fatalf("worker not evicted (evicted=%v len=%d)", old.evicted.Load(), p.Len())
		}
		for i := range p.cache {
			if p.cache[i].Load() == old {
				t.Fatalf("cache slot %d still holds the evicted worker", i)
			}
		}
		if _, ok := p.Lookup(k); ok {
			t.Fatal("Lookup found an evicted key")
		}
		nw, _ := p.Get(k)
		if nw == old {
			t.Fatal("Get returned the evicted worker")
		}
		// A stale slot (as if the sweep had not cleared it yet) is skipped too.
		p.cache[cacheSet(k)].Store(old)
		p.cache[cacheSet(k)+1].Store(old)
		if w, ok := p.Lookup(k); !ok || w != nw {
			t.Fatal("Lookup served an evicted worker from the cache")
		}
	})
}

func itoa(i int) string {
	var b [20]byte
	n := len(b)
	for {
		n--
		b[n] = byte('0' + i%10)
		if i /= 10; i == 0 {
			return string(b[n:])
		}
	}
}

// TestCacheStoreRacingEviction verifies a worker evicted between Lookup's
// map load and its cache store does not stay in the cache: the janitor's
// sweep had already passed, and with the pool empty it would not sweep again.
func TestCacheStoreRacingEviction(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newPool(t, Config{IdleTimeout: time.Second})
		k := policy.ParseKey("svc.Op")
		w, _ := p.Get(k)
		p.cache[cacheSet(k)].Store(nil) // force the next Lookup to miss
		p.cache[cacheSet(k)+1].Store(nil)
		p.beforeCacheStore = func(got *Worker[snap]) {
			p.beforeCacheStore = nil
			// What the sweep does, in full, at the worst moment.
			w.used.Store(false)
			w.idleSweeps = 1
			p.sweep()
		}
		p.Lookup(k)
		if !w.evicted.Load() {
			t.Fatal("the hook did not evict the worker")
		}
		for i := range p.cache {
			if p.cache[i].Load() == w {
				t.Fatalf("the evicted worker stayed in cache slot %d", i)
			}
		}
	})
}

// TestCacheTwoWays verifies two keys whose string addresses fall in the same
// set both stay cached when used alternately (they do not evict each other).
func TestCacheTwoWays(t *testing.T) {
	p := newPool(t, Config{})
	bySet := map[uint64]policy.Key{}
	var k1, k2 policy.Key
	for i := 0; k1 == (policy.Key{}); i++ {
		k := policy.Key{Namespace: "svc", Name: "Op" + itoa(i)}
		if prev, ok := bySet[cacheSet(k)]; ok {
			k1, k2 = prev, k
		}
		bySet[cacheSet(k)] = k
	}
	w1, _ := p.Get(k1)
	w2, _ := p.Get(k2)
	for range 4 {
		p.Lookup(k1)
		p.Lookup(k2)
	}
	set := cacheSet(k1)
	got := map[*Worker[snap]]bool{p.cache[set].Load(): true, p.cache[set+1].Load(): true}
	if !got[w1] || !got[w2] {
		t.Fatalf("set %d holds %v, want both workers", set, got)
	}
}
