package regohttp_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/regoresilience/rego/integrations/regohttp"
)

// TestDefaultKey verifies the default key for ordinary and hostile hosts, and
// that every key it makes is valid.
func TestDefaultKey(t *testing.T) {
	for _, tc := range []struct {
		method, host, reqHost, want string
	}{
		{"GET", "api.example.com", "", "http.GET_api.example.com"},
		{"", "API.Example.COM", "", "http.GET_api.example.com"},
		{"POST", "127.0.0.1:8080", "", "http.POST_127.0.0.1-8080"},
		{"GET", "[::1]:443", "", "http.GET_---1--443"},
		{"GET", "bücher.de", "", "http.GET_b--cher.de"},
		{"GET", "", "virtual.host", "http.GET_virtual.host"},
		{"GET", "", "", "http.GET"},
		{"PURGE", "user-1234567.example.com", "", "http.PURGE"},      // looks like an ID
		{"GET", strings.Repeat("a", 200) + ".com", "", "http.GET"},   // too long
		{"M/ETHOD", "x.example", "", "http.M-ETHOD_x.example"},       // odd method token
		{strings.Repeat("X", 200), "x.example", "", "http.OTHER"},    // absurd method
		{"GET", "deadbeefdeadbeefdeadbeef1.example", "", "http.GET"}, // a hash
		{"GET", "a b?c=d#e@f%g,h;i&j*k\\l", "", "http.GET_a-b-c-d-e-f-g-h-i-j-k-l"},
	} {
		req := &http.Request{Method: tc.method, URL: &url.URL{Scheme: "http", Host: tc.host}, Host: tc.reqHost}
		k := regohttp.DefaultKey(req)
		if k.String() != tc.want {
			t.Errorf("DefaultKey(%q %q) = %q; want %q", tc.method, tc.host, k, tc.want)
		}
		if err := k.Validate(); err != nil {
			t.Errorf("DefaultKey(%q %q) = %q: invalid: %v", tc.method, tc.host, k, err)
		}
	}
	if k := regohttp.DefaultKey(nil); k.String() != "http.GET" {
		t.Errorf("DefaultKey(nil) = %q", k)
	}
}

// TestIsIdempotent verifies the method set and the idempotency-key headers.
func TestIsIdempotent(t *testing.T) {
	for _, tc := range []struct {
		method string
		header http.Header
		want   bool
	}{
		{"GET", nil, true}, {"", nil, true}, {"HEAD", nil, true}, {"OPTIONS", nil, true},
		{"TRACE", nil, true}, {"PUT", nil, true}, {"DELETE", nil, true},
		{"POST", nil, false}, {"PATCH", nil, false}, {"CONNECT", nil, false}, {"get", nil, false},
		{"POST", http.Header{"Idempotency-Key": {"k1"}}, true},
		{"PATCH", http.Header{"X-Idempotency-Key": {"k1"}}, true},
		{"POST", http.Header{"Idempotency-Key": nil}, true},     // net/http's "idempotent, but do not send"
		{"POST", http.Header{"idempotency-key": {"k1"}}, false}, // not canonical: net/http ignores it too
	} {
		req := &http.Request{Method: tc.method, Header: tc.header}
		if got := regohttp.IsIdempotent(req); got != tc.want {
			t.Errorf("IsIdempotent(%s %v) = %v; want %v", tc.method, tc.header, got, tc.want)
		}
	}
}
