package regogrpc_test

import (
	"strings"
	"testing"

	"github.com/regoresilience/rego"
	"github.com/regoresilience/rego/integrations/regogrpc"
	"github.com/regoresilience/rego/policy"
)

// TestDefaultKey verifies how full methods map to keys, that the keys are
// valid, and which policy patterns match them.
func TestDefaultKey(t *testing.T) {
	for _, tt := range []struct {
		method string
		want   rego.Key
	}{
		{"/pkg.v1.UserService/GetUser", rego.Key{Namespace: "pkg", Name: "v1.UserService.GetUser"}},
		{"/grpc.testing.TestService/UnaryCall", rego.Key{Namespace: "grpc", Name: "testing.TestService.UnaryCall"}},
		{"/Echo/Say", rego.Key{Namespace: "Echo", Name: "Say"}},
		{"pkg.S/M", rego.Key{Namespace: "pkg", Name: "S.M"}},
		{"", rego.Key{Namespace: "grpc", Name: "unknown"}},
		{"/", rego.Key{Namespace: "grpc", Name: "unknown"}},
		{"/pkg.S/", rego.Key{Namespace: "grpc", Name: "unknown"}},
		{"//M", rego.Key{Namespace: "grpc", Name: "unknown"}},
	} {
		got := regogrpc.DefaultKey(tt.method)
		if got != tt.want {
			t.Errorf("DefaultKey(%q) = %#v, want %#v", tt.method, got, tt.want)
		}
		if err := got.Validate(); err != nil {
			t.Errorf("DefaultKey(%q) = %v: %v", tt.method, got, err)
		}
	}
	if got := regogrpc.DefaultKey("/pkg.v1.UserService/GetUser").String(); got != "pkg.v1.UserService.GetUser" {
		t.Errorf("key text %q", got)
	}
}

// TestServicePattern verifies that "pkg.v1.UserService.*" matches every
// method of the service and nothing else, and that a method's own pattern
// beats it.
func TestServicePattern(t *testing.T) {
	set, err := policy.NewSet(map[string]policy.Policy{
		"pkg.*":                         {},
		"pkg.v1.UserService.*":          {},
		"pkg.v1.UserService.DeleteUser": {},
	})
	if err != nil {
		t.Fatal(err)
	}
	for method, want := range map[string]string{
		"/pkg.v1.UserService/GetUser":    "pkg.v1.UserService.*",
		"/pkg.v1.UserService/ListUsers":  "pkg.v1.UserService.*",
		"/pkg.v1.UserService/DeleteUser": "pkg.v1.UserService.DeleteUser",
		"/pkg.v1.OrderService/GetOrder":  "pkg.*",
		"/pkg.v2.UserService/GetUser":    "pkg.*",
	} {
		if _, pattern, ok := set.Resolve(regogrpc.DefaultKey(method)); !ok || pattern != want {
			t.Errorf("%s: pattern %q, want %q", method, pattern, want)
		}
	}
}

// FuzzDefaultKey checks that DefaultKey never panics and that a well-formed
// full method's key is rego.ParseKey("service.method").
func FuzzDefaultKey(f *testing.F) {
	for _, s := range []string{"/pkg.v1.UserService/GetUser", "/Echo/Say", "", "/", "//", "/a/b/c", "no-slash", "/a./b", "/.a/b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, fullMethod string) {
		k := regogrpc.DefaultKey(fullMethod)
		if k != regogrpc.DefaultKey(fullMethod) {
			t.Fatalf("DefaultKey(%q) is not deterministic", fullMethod)
		}
		m := strings.TrimPrefix(fullMethod, "/")
		i := strings.LastIndexByte(m, '/')
		if i <= 0 || i == len(m)-1 {
			if k != (rego.Key{Namespace: regogrpc.KeyNamespace, Name: "unknown"}) {
				t.Fatalf("DefaultKey(%q) = %#v, want grpc.unknown", fullMethod, k)
			}
			return
		}
		if want := rego.ParseKey(m[:i] + "." + m[i+1:]); k != want {
			t.Fatalf("DefaultKey(%q) = %#v, want %#v", fullMethod, k, want)
		}
	})
}
