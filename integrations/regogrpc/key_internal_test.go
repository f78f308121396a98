package regogrpc

import (
	"strconv"
	"sync"
	"testing"
)

// TestKeyCache verifies that the memoized keys are DefaultKey's, from many
// goroutines at once and past the cache's limit.
func TestKeyCache(t *testing.T) {
	var c keyCache
	var wg sync.WaitGroup
	for g := range 2 {
		wg.Go(func() {
			for i := range keyCacheLimit + 100 {
				m := "/pkg.S" + strconv.Itoa((i+g*7)%(keyCacheLimit+100)) + "/M"
				if got, want := c.key(m), DefaultKey(m); got != want {
					t.Errorf("key(%q) = %v, want %v", m, got, want)
					return
				}
			}
		})
	}
	wg.Wait()
	if n := len(*c.m.Load()); n != keyCacheLimit {
		t.Errorf("cache holds %d keys, want the limit %d", n, keyCacheLimit)
	}
	m := "/pkg.v1.UserService/GetUser"
	c.key(m)
	if n := testing.AllocsPerRun(100, func() { _ = c.key("/pkg.S1/M") }); n != 0 {
		t.Errorf("a cached key costs %v allocs, want 0", n)
	}
}
