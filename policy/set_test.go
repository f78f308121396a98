package policy_test

import (
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/regoresilience/rego/policy"
)

func TestValidatePattern(t *testing.T) {
	tests := []struct {
		pattern string
		reason  string // "" = valid; else a substring of the error
	}{
		{"*", ""},
		{"svc.*", ""},
		{"svc.Op", ""},
		{"db.Users.Query", ""},
		{"user-service.get_user", ""},

		{"", "empty"},
		{"svc", `no "."`},
		{"ns.", "empty name"},
		{".Op", "empty namespace"},
		{".*", "empty namespace"},
		{".", "empty namespace"},
		{"*.x", "namespace cannot be a wildcard"},
		{"*.*", "namespace cannot be a wildcard"},
		{"a*.b", "namespace cannot be a wildcard"},
		{"**", `no "."`},
		{"a.*.b", "wildcard must be the whole name"},
		{"a.b*", "wildcard must be the whole name"},
		{"a.b.*", ""},
		{"pkg.v1.UserService.*", ""},
		{"a..*", "empty name part"},
		{"a.b..*", "empty name part"},
		{"a.b.*.*", "wildcard must be the whole name"},
		{"a.*.b.*", "wildcard must be the whole name"},
		{"a.b*.*", "wildcard must be the whole name"},
		{"a.Get123456.*", "digits"},
		{"a.**", "wildcard must be the whole name"},
		{" svc.Op", "whitespace"},
		{"svc.Op ", "whitespace"},
		{"svc.Get/42", "'/'"},
		{"svc.Get1234567", "digits"},
		{"svc:8080.*", "namespace: contains ':'"},
		{"svc." + strings.Repeat("a", 200), "longer than 128"},
	}
	for _, tt := range tests {
		err := policy.ValidatePattern(tt.pattern)
		if tt.reason == "" {
			if err != nil {
				t.Errorf("ValidatePattern(%q) = %v, want nil", tt.pattern, err)
			}
			continue
		}
		var pe *policy.PatternError
		if !errors.As(err, &pe) || pe.Pattern != tt.pattern {
			t.Errorf("ValidatePattern(%q) = %v, want a *PatternError", tt.pattern, err)
			continue
		}
		if !errors.Is(err, policy.ErrInvalidPattern) || !errors.Is(err, policy.ErrInvalidPolicy) {
			t.Errorf("ValidatePattern(%q) = %v: want ErrInvalidPattern and ErrInvalidPolicy", tt.pattern, err)
		}
		if !strings.Contains(err.Error(), tt.reason) {
			t.Errorf("ValidatePattern(%q) = %v, want it to mention %q", tt.pattern, err, tt.reason)
		}
	}
	// A literal that is not a valid key keeps the key's classification.
	if err := policy.ValidatePattern("svc.Get/42"); !errors.Is(err, policy.ErrHighCardinalityKey) {
		t.Errorf("got %v, want ErrHighCardinalityKey too", err)
	}
}

func mustSet(t testing.TB, m map[string]policy.Policy) *policy.Set {
	t.Helper()
	s, err := policy.NewSet(m)
	if err != nil {
		t.Fatalf("NewSet: %v", err)
	}
	return s
}

// attempts tags each policy with a distinct MaxAttempts so a test can see
// which pattern Resolve picked.
func attempts(n int) policy.Policy { return policy.Policy{Retry: policy.Retry{MaxAttempts: n}} }

func TestResolveOrder(t *testing.T) {
	full := mustSet(t, map[string]policy.Policy{
		"svc.Op":       attempts(1),
		"svc.*":        attempts(2),
		"*":            attempts(3),
		"db.Users.Get": attempts(4),
		"db.*":         attempts(5),
	})
	noStar := mustSet(t, map[string]policy.Policy{"svc.Op": attempts(1), "svc.*": attempts(2)})
	tests := []struct {
		set     *policy.Set
		key     policy.Key
		pattern string // "" = no match
		n       int
	}{
		{full, policy.ParseKey("svc.Op"), "svc.Op", 1},
		{full, policy.ParseKey("svc.Other"), "svc.*", 2},
		{full, policy.ParseKey("svc.Op.Sub"), "svc.*", 2},
		{full, policy.ParseKey("other.Op"), "*", 3},
		{full, policy.ParseKey("db.Users.Get"), "db.Users.Get", 4},
		{full, policy.ParseKey("db.Users"), "db.*", 5},
		{full, policy.ParseKey("svc"), "svc.*", 2}, // invalid key, but its namespace is known
		{full, policy.Key{}, "*", 3},
		{full, policy.Key{Namespace: "svc.Op"}, "*", 3}, // parts, not text, are matched
		{full, policy.ParseKey("SVC.Op"), "*", 3},       // case-sensitive
		{noStar, policy.ParseKey("svc.Op"), "svc.Op", 1},
		{noStar, policy.ParseKey("other.Op"), "", 0},
		{nil, policy.ParseKey("svc.Op"), "", 0},
		{mustSet(t, nil), policy.ParseKey("svc.Op"), "", 0},
	}
	for _, tt := range tests {
		p, pattern, ok := tt.set.Resolve(tt.key)
		if pattern != tt.pattern || ok != (tt.pattern != "") || p.Retry.MaxAttempts != tt.n {
			t.Errorf("%v.Resolve(%#v) = attempts %d, %q, %v; want %d, %q",
				tt.set, tt.key, p.Retry.MaxAttempts, pattern, ok, tt.n, tt.pattern)
		}
		if !ok && p != (policy.Policy{}) {
			t.Errorf("Resolve(%#v) with ok=false returned a non-zero policy %+v", tt.key, p)
		}
	}
}

// referenceResolve is the obvious, slow implementation: scan the patterns
// and keep the most specific match.
func referenceResolve(m map[string]policy.Policy, k policy.Key) (string, bool) {
	best, rank := "", 0
	for pat := range m {
		r := 0
		switch {
		case pat == "*":
			r = 1
		case strings.HasSuffix(pat, ".*") && strings.TrimSuffix(pat, ".*") == k.Namespace && !strings.Contains(k.Namespace, "."):
			r = 2
		case strings.HasSuffix(pat, ".*") && !strings.Contains(k.Namespace, ".") &&
			strings.HasPrefix(k.Namespace+"."+k.Name, strings.TrimSuffix(pat, "*")):
			// A longer prefix is more specific.
			r = 2 + len(pat)
		case pat == k.Namespace+"."+k.Name && k.Name != "" && !strings.Contains(k.Namespace, "."):
			r = 1000
		}
		if r > rank {
			best, rank = pat, r
		}
	}
	return best, rank > 0
}

// TestResolveAgainstReference compares Resolve with referenceResolve on
// random sets and keys drawn from a small alphabet, so collisions between
// exact, namespace and global patterns are frequent.
func TestResolveAgainstReference(t *testing.T) {
	r := newRand(3)
	parts := []string{"a", "b", "c", "a.b", "b.c", "a.b.c"}
	for round := range 500 {
		m := map[string]policy.Policy{}
		for i := range r.IntN(8) {
			var pat string
			switch r.IntN(4) {
			case 0:
				pat = "*"
			case 1:
				pat = parts[r.IntN(3)] + ".*"
				if r.IntN(2) == 0 {
					pat = parts[r.IntN(3)] + "." + parts[r.IntN(len(parts))] + ".*"
				}
			default:
				pat = parts[r.IntN(3)] + "." + parts[r.IntN(len(parts))]
			}
			m[pat] = attempts(i + 1)
		}
		s := mustSet(t, m)
		for range 30 {
			k := policy.Key{Namespace: parts[r.IntN(len(parts))], Name: parts[r.IntN(len(parts))]}
			if r.IntN(5) == 0 {
				k.Name = ""
			}
			p, pattern, ok := s.Resolve(k)
			wantPat, wantOK := referenceResolve(m, k)
			if pattern != wantPat || ok != wantOK {
				t.Fatalf("round %d: set %v: Resolve(%#v) = %q, %v; reference %q, %v",
					round, s.Patterns(), k, pattern, ok, wantPat, wantOK)
			}
			if ok && p != m[pattern].Normalize() {
				t.Fatalf("Resolve(%#v) policy %+v, want the normalized %q entry", k, p, pattern)
			}
		}
	}
}

func TestResolveDoesNotAllocate(t *testing.T) {
	s := mustSet(t, map[string]policy.Policy{"svc.Op": {}, "svc.*": {}, "*": {}})
	keys := []policy.Key{policy.ParseKey("svc.Op"), policy.ParseKey("svc.X"), policy.ParseKey("x.Y")}
	for _, k := range keys {
		if n := testing.AllocsPerRun(100, func() { _, _, _ = s.Resolve(k) }); n != 0 {
			t.Errorf("Resolve(%v): %v allocs, want 0", k, n)
		}
	}
}

// TestResolveConcurrent lets the race detector check that a Set is safe to
// share: readers only, no synchronization needed.
func TestResolveConcurrent(t *testing.T) {
	s := mustSet(t, map[string]policy.Policy{"svc.Op": attempts(1), "svc.*": attempts(2), "*": attempts(3)})
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 1000 {
				k := policy.Key{Namespace: "svc", Name: []string{"Op", "X"}[(g+i)%2]}
				if _, _, ok := s.Resolve(k); !ok {
					t.Error("no match")
					return
				}
				_ = s.Policies()
			}
		})
	}
	wg.Wait()
}

func TestSetAccessors(t *testing.T) {
	m := map[string]policy.Policy{"b.*": attempts(2), "*": attempts(3), "a.Op": {Timeout: time.Second}}
	s := mustSet(t, m)
	if got, want := s.Patterns(), []string{"*", "a.Op", "b.*"}; !slices.Equal(got, want) {
		t.Errorf("Patterns() = %q, want %q", got, want)
	}
	s.Patterns()[0] = "mutated"
	if s.Patterns()[0] != "*" {
		t.Error("Patterns() exposes internal state")
	}
	if s.Len() != 3 {
		t.Errorf("Len() = %d", s.Len())
	}
	got := s.Policies()
	for pat, p := range m {
		if got[pat] != p.Normalize() {
			t.Errorf("Policies()[%q] = %+v, want normalized %+v", pat, got[pat], p.Normalize())
		}
	}
	got["*"] = policy.Policy{}
	delete(got, "b.*")
	if p, _, _ := s.Resolve(policy.ParseKey("z.Z")); p != attempts(3).Normalize() || s.Len() != 3 {
		t.Error("Policies() exposes internal state")
	}
	m["*"] = attempts(9) // NewSet copied the map
	if p, _, _ := s.Resolve(policy.ParseKey("z.Z")); p.Retry.MaxAttempts != 3 {
		t.Error("NewSet kept a reference to the caller's map")
	}
	if s.String() != "policy.Set{3 patterns}" {
		t.Errorf("String() = %q", s.String())
	}

	var nilSet *policy.Set
	if nilSet.Len() != 0 || len(nilSet.Patterns()) != 0 || nilSet.Policies() == nil || len(nilSet.Policies()) != 0 {
		t.Error("nil Set accessors")
	}
}

func TestSetEqual(t *testing.T) {
	a := mustSet(t, map[string]policy.Policy{"svc.*": {}, "*": attempts(2)})
	same := mustSet(t, map[string]policy.Policy{"svc.*": policy.Default(), "*": attempts(2)}) // equal once normalized
	diffPolicy := mustSet(t, map[string]policy.Policy{"svc.*": {}, "*": attempts(1)})
	diffPattern := mustSet(t, map[string]policy.Policy{"svd.*": {}, "*": attempts(2)})
	empty := mustSet(t, map[string]policy.Policy{})
	var nilSet *policy.Set
	tests := []struct {
		a, b *policy.Set
		want bool
	}{
		{a, a, true}, {a, same, true}, {a, diffPolicy, false}, {a, diffPattern, false},
		{a, empty, false}, {empty, nilSet, true}, {nilSet, nilSet, true}, {nilSet, a, false},
	}
	for i, tt := range tests {
		if got := tt.a.Equal(tt.b); got != tt.want {
			t.Errorf("#%d: Equal = %v, want %v", i, got, tt.want)
		}
	}
}

func TestNewSetErrors(t *testing.T) {
	_, err := policy.NewSet(map[string]policy.Policy{
		"svc.Op":  {Retry: policy.Retry{MaxAttempts: -1}},
		"a.*.b":   {},
		"ok.*":    {},
		"ns.":     {Hedge: policy.Hedge{Percentile: 100}},
		"*":       {Timeout: -1},
		"":        {},
		"*.x":     {},
		"svc.Get": {Classifier: "x\n"},
	})
	want := []string{
		`policies: invalid pattern "": empty (want "ns.Name", "ns.Prefix.*", "ns.*" or "*")`,
		`policies["*"].timeout: must not be negative`,
		`policies: invalid pattern "*.x": the namespace cannot be a wildcard (use "*" for every key)`,
		`policies: invalid pattern "a.*.b": a wildcard must be the whole name ("ns.*")`,
		`policies: invalid pattern "ns.": empty name after "." (want "ns.Name", "ns.Prefix.*", "ns.*" or "*")`,
		`policies["ns."].hedge.percentile: must be > 0 and < 100`,
		`policies["svc.Get"].classifier: must not start or end with whitespace`,
		`policies["svc.Op"].retry.max_attempts: must be >= 1`,
	}
	if got := fieldErrors(err); !slices.Equal(got, want) {
		t.Errorf("NewSet errors\n got %q\nwant %q", got, want)
	}
	if !allMatch(err, policy.ErrInvalidPolicy) {
		t.Errorf("not every problem matches ErrInvalidPolicy: %v", err)
	}
	if !errors.Is(err, policy.ErrInvalidPattern) {
		t.Error("errors.Is(ErrInvalidPattern) = false")
	}
	var fe *policy.FieldError
	if !errors.As(err, &fe) || fe.Path != `policies["*"].timeout` {
		t.Errorf("errors.As(*FieldError) = %+v", fe)
	}
}

// TestNewSetErrorCap verifies that a huge bad input gives a bounded error.
func TestNewSetErrorCap(t *testing.T) {
	m := map[string]policy.Policy{}
	for i := range 1000 {
		m["svc.Op"+strings.Repeat("x", i%50)+string(rune('a'+i%26))+string(rune('a'+i/26%26))] = policy.Policy{Timeout: -1}
	}
	_, err := policy.NewSet(m)
	got := fieldErrors(err)
	if len(got) != 21 || got[20] != "and 980 more problems" {
		t.Errorf("got %d problems, last %q; want 20 and a count of the rest", len(got), got[len(got)-1])
	}
}

// TestResolvePrefix verifies that "ns.Prefix.*" matches the keys whose name
// starts with "Prefix." (all methods of one gRPC service), that the longest
// prefix wins, and that exact keys still beat prefixes.
func TestResolvePrefix(t *testing.T) {
	s := mustSet(t, map[string]policy.Policy{
		"pkg.*":                        attempts(1),
		"pkg.v1.*":                     attempts(2),
		"pkg.v1.UserService.*":         attempts(3),
		"pkg.v1.UserService.DeleteAll": attempts(4),
	})
	for _, tt := range []struct{ key, want string }{
		{"pkg.v1.UserService.GetUser", "pkg.v1.UserService.*"},
		{"pkg.v1.UserService.ListUsers", "pkg.v1.UserService.*"},
		{"pkg.v1.UserService.DeleteAll", "pkg.v1.UserService.DeleteAll"},
		{"pkg.v1.UserServiceX.GetUser", "pkg.v1.*"},
		{"pkg.v1.UserService", "pkg.v1.*"},
		{"pkg.v2.UserService.GetUser", "pkg.*"},
		{"pkg.v1", "pkg.*"},
	} {
		_, pattern, ok := s.Resolve(policy.ParseKey(tt.key))
		if !ok || pattern != tt.want {
			t.Errorf("Resolve(%q) = %q, %v; want %q", tt.key, pattern, ok, tt.want)
		}
	}
	k := policy.ParseKey("pkg.v1.UserService.GetUser")
	if n := testing.AllocsPerRun(100, func() { _, _, _ = s.Resolve(k) }); n != 0 {
		t.Errorf("Resolve with prefixes: %v allocs, want 0", n)
	}
}
