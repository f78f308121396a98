package regohttp

import (
	"net/http"

	"github.com/regoresilience/rego"
)

// KeyNamespace is the namespace of the keys DefaultKey builds.
const KeyNamespace = "http"

// DefaultKey is the key a Transport uses when no WithKeyFunc is given:
// {Namespace: "http", Name: METHOD + "_" + host}, for example
// "http.GET_api.example.com" or "http.POST_127.0.0.1-8080". The host is the
// URL's (else Request.Host), lower-cased, with every byte other than ASCII
// letters, digits, '.', '-' and '_' replaced by '-' (':' and '/' are not
// allowed in keys). When the result is still not a valid key (a very long
// host, one that looks like an ID) the key is just "http.METHOD".
//
// One key per method and host is a coarse default: every route of a host
// shares one policy, one latency tracker (the hedge trigger) and one set of
// budgets. Give the Transport a key function that names routes
// ("users.GetUser") when they deserve different treatment, and never put
// request data (IDs, paths, query strings) in a key.
func DefaultKey(req *http.Request) rego.Key {
	method := http.MethodGet
	host := ""
	if req != nil {
		if req.Method != "" {
			method = req.Method
		}
		if req.URL != nil {
			host = req.URL.Host
		}
		if host == "" {
			host = req.Host
		}
	}
	method = sanitize(method, false)
	k := rego.Key{Namespace: KeyNamespace, Name: method + "_" + sanitize(host, true)}
	if host == "" || k.Validate() != nil {
		k.Name = method
		if k.Validate() != nil {
			k.Name = "OTHER"
		}
	}
	return k
}

// sanitize keeps ASCII letters, digits, '.', '-' and '_' (lower-casing
// letters if asked) and replaces every other byte with '-'.
func sanitize(s string, lower bool) string {
	clean := true
	for i := 0; i < len(s) && clean; i++ {
		clean = s[i] == keyByte(s[i], lower)
	}
	if clean {
		return s
	}
	b := make([]byte, len(s))
	for i := 0; i < len(s); i++ {
		b[i] = keyByte(s[i], lower)
	}
	return string(b)
}

func keyByte(c byte, lower bool) byte {
	switch {
	case c >= 'A' && c <= 'Z':
		if lower {
			return c + ('a' - 'A')
		}
		return c
	case c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '.', c == '-', c == '_':
		return c
	}
	return '-'
}
