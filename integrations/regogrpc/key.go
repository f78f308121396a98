package regogrpc

import (
	"strings"
	"sync"
	"sync/atomic"

	"github.com/regoresilience/rego"
)

// KeyNamespace is the namespace of the key DefaultKey returns for a full
// method name it cannot read.
const KeyNamespace = "grpc"

// DefaultKey is the key an interceptor uses when no WithKeyFunc is given:
// the full method "/pkg.v1.UserService/GetUser" becomes the key
// "pkg.v1.UserService.GetUser", that is rego.ParseKey of the service and the
// method joined by a dot: {Namespace: "pkg", Name: "v1.UserService.GetUser"}.
// A service without a package ("/Echo/Say") gives {Namespace: "Echo", Name:
// "Say"}.
//
// Policies match these keys by their text: "pkg.v1.UserService.GetUser" for
// one method, "pkg.v1.UserService.*" for every method of the service (a prefix
// pattern), "pkg.*" for every service of the package. The key names a method,
// never a request, so there are as many keys as methods the client calls.
//
// A full method that is not of the form "/service/method" gives
// {Namespace: "grpc", Name: "unknown"}.
func DefaultKey(fullMethod string) rego.Key {
	m := strings.TrimPrefix(fullMethod, "/")
	i := strings.LastIndexByte(m, '/')
	if i <= 0 || i == len(m)-1 {
		return rego.Key{Namespace: KeyNamespace, Name: "unknown"}
	}
	return rego.ParseKey(m[:i] + "." + m[i+1:])
}

// keyCacheLimit bounds the DefaultKey cache: a client calls a fixed set of
// methods, so the limit is only reached by a client fed arbitrary method
// names, which then pays DefaultKey's allocation on each call. Filling the
// cache copies it once per method (copy on write), which the bound keeps
// cheap.
const keyCacheLimit = 1024

// keyCache memoizes DefaultKey so that the hot path does not allocate the
// joined key. Lookups read an immutable map through an atomic pointer (no
// lock); a miss copies the map under mu and publishes the copy, which is
// rare: once per method.
type keyCache struct {
	mu sync.Mutex                          // serializes writers
	m  atomic.Pointer[map[string]rego.Key] // immutable once published
}

func (c *keyCache) key(fullMethod string) rego.Key {
	if m := c.m.Load(); m != nil {
		if k, ok := (*m)[fullMethod]; ok {
			return k
		}
	}
	k := DefaultKey(fullMethod)
	c.mu.Lock()
	defer c.mu.Unlock()
	old := c.m.Load()
	if old != nil && len(*old) >= keyCacheLimit {
		return k
	}
	next := make(map[string]rego.Key, 1+lenOf(old))
	if old != nil {
		for name, v := range *old {
			next[name] = v
		}
	}
	next[fullMethod] = k
	c.m.Store(&next)
	return k
}

func lenOf(m *map[string]rego.Key) int {
	if m == nil {
		return 0
	}
	return len(*m)
}
