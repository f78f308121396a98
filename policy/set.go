package policy

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Set is an immutable collection of policies indexed by pattern, and
// resolves a Key to the most specific one: the exact pattern "ns.Name", then
// the longest matching "ns.Prefix.*", then "ns.*", then "*". When nothing matches, Resolve reports ok=false and the
// engine applies its own default.
//
// A Set is built once (NewSet, ParseDocument) and never changes afterwards,
// so it is safe for concurrent use without locks; a control plane replaces
// the whole Set to change policies. The nil *Set is a valid empty Set.
type Set struct {
	// All fields are written by buildSet only.
	exact   map[Key]*entry    // "ns.Name", keyed by parts so lookups need no concatenation
	prefix  map[Key]*entry    // "ns.Prefix.*", keyed by {ns, Prefix}
	ns      map[string]*entry // "ns.*", keyed by namespace
	all     *entry            // "*", or nil
	entries []entry           // every entry, sorted by pattern; the maps point into it
}

// entry is a normalized policy and the pattern it was registered under
// (kept so Resolve returns it without allocating).
type entry struct {
	p       Policy
	pattern string
}

// NewSet validates every pattern (ValidatePattern) and every policy
// (Policy.Validate) and returns a Set of their Normalize()d copies. Errors
// name the pattern: `policies["svc.Op"].retry.max_attempts: must be >= 1`;
// all problems are reported together (errors.Join, up to 20, in pattern
// order) and match ErrInvalidPolicy. A nil or empty map gives an empty Set.
func NewSet(policies map[string]Policy) (*Set, error) {
	patterns := make([]string, 0, len(policies))
	for pat := range policies {
		patterns = append(patterns, pat)
	}
	slices.Sort(patterns)
	var l errList
	for _, pat := range patterns {
		checkEntry(pat, policies[pat], &l)
	}
	if err := l.err(); err != nil {
		return nil, err
	}
	return buildSet(policies, patterns), nil
}

// checkEntry reports the problems of one pattern and its policy to l.
func checkEntry(pattern string, p Policy, l *errList) {
	if _, err := parsePattern(pattern); err != nil {
		l.add(fmt.Errorf("policies: %w", err))
	}
	p.validate(entryPath(pattern)+".", l)
}

// entryPath is the path of a policy in a document: policies["svc.Op"].
func entryPath(pattern string) string {
	return "policies[" + quoteShort(pattern) + "]"
}

// buildSet indexes already-validated policies under sorted patterns.
func buildSet(policies map[string]Policy, patterns []string) *Set {
	s := &Set{entries: make([]entry, len(patterns))}
	for i, pat := range patterns {
		e := &s.entries[i]
		*e = entry{p: policies[pat].Normalize(), pattern: pat}
		kind, _ := parsePattern(pat)
		switch kind {
		case patternAll:
			s.all = e
		case patternNamespace:
			if s.ns == nil {
				s.ns = make(map[string]*entry)
			}
			s.ns[strings.TrimSuffix(pat, ".*")] = e
		case patternPrefix:
			if s.prefix == nil {
				s.prefix = make(map[Key]*entry)
			}
			s.prefix[ParseKey(strings.TrimSuffix(pat, ".*"))] = e
		case patternExact:
			if s.exact == nil {
				s.exact = make(map[Key]*entry)
			}
			s.exact[ParseKey(pat)] = e
		}
	}
	return s
}

// Resolve returns the policy for k and the pattern that supplied it, trying
// the exact key, then the prefix patterns of k's name from the longest
// ("db.Users.Query.*" for "db.Users.Query.One") to the shortest
// ("db.Users.*"), then k's namespace wildcard, then "*". ok is false when
// none matches (or s is nil): the engine's default applies. The policy is
// already normalized. Resolve does not allocate.
//
// Keys match by their parts: Key{Namespace: "a.b", Name: "c"} (which
// Key.Validate rejects) does not match the pattern "a.b.c".
func (s *Set) Resolve(k Key) (p Policy, pattern string, ok bool) {
	if s == nil {
		return Policy{}, "", false
	}
	e := s.exact[k]
	if e == nil && s.prefix != nil {
		for i := strings.LastIndexByte(k.Name, '.'); i > 0 && e == nil; i = strings.LastIndexByte(k.Name[:i], '.') {
			e = s.prefix[Key{Namespace: k.Namespace, Name: k.Name[:i]}]
		}
	}
	if e == nil {
		e = s.ns[k.Namespace]
	}
	if e == nil {
		e = s.all
	}
	if e == nil {
		return Policy{}, "", false
	}
	return e.p, e.pattern, true
}

// Patterns returns the Set's patterns, sorted. The slice is a copy.
func (s *Set) Patterns() []string {
	out := make([]string, 0, s.Len())
	if s != nil {
		for _, e := range s.entries {
			out = append(out, e.pattern)
		}
	}
	return out
}

// Len returns the number of patterns in the Set.
func (s *Set) Len() int {
	if s == nil {
		return 0
	}
	return len(s.entries)
}

// Policies returns a new map from pattern to normalized policy; changing it
// does not affect s. It is never nil.
func (s *Set) Policies() map[string]Policy {
	m := make(map[string]Policy, s.Len())
	if s != nil {
		for _, e := range s.entries {
			m[e.pattern] = e.p
		}
	}
	return m
}

// Equal reports whether s and o hold the same patterns with the same
// (normalized) policies. A nil Set equals an empty one. A control plane can
// use it to skip publishing a reload that changed nothing.
func (s *Set) Equal(o *Set) bool {
	if s.Len() != o.Len() {
		return false
	}
	for i := 0; i < s.Len(); i++ {
		if s.entries[i] != o.entries[i] {
			return false
		}
	}
	return true
}

// String returns a short description for logs: "policy.Set{3 patterns}"
// ("policy.Set{1 pattern}" for one).
func (s *Set) String() string {
	return "policy.Set{" + plural(s.Len(), "pattern") + "}"
}

// plural returns n and noun, with an "s" unless n is 1: "1 pattern",
// "3 patterns".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return strconv.Itoa(n) + " " + noun + "s"
}
