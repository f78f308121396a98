package keyworker

import (
	"testing"
	"testing/synctest"
	"time"

	"github.com/regoresilience/rego/policy"
)

// TestIdleTimeoutIsAMinimum verifies a key is not evicted before it has
// been unused for the whole IdleTimeout (WithIdleTimeout: "how long a key may
// go unused before its worker is evicted"), and is evicted soon after.
func TestIdleTimeoutIsAMinimum(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newPool(t, Config{IdleTimeout: time.Second})
		k := policy.ParseKey("svc.Op")
		w, _ := p.Get(k) // t=0: the janitor wakes and sweeps every 500ms from now
		<-time.After(490 * time.Millisecond)
		p.Lookup(k) // last use at t=490ms
		<-time.After(700 * time.Millisecond)
		if got, ok := p.Lookup(k); !ok || got != w { // t=1.19s: unused for 700ms only
			t.Fatalf("key evicted after %v unused, want at least the 1s idle timeout", 700*time.Millisecond)
		}
		// That Lookup was a use: from now, evicted within 1.5 timeouts.
		<-time.After(1500 * time.Millisecond)
		if _, ok := p.Lookup(k); ok {
			t.Fatal("key still present 1.5 idle timeouts after its last use")
		}
	})
}
