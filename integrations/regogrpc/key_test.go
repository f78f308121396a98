package regogrpc_test

import (
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
