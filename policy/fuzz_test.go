package policy_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/regoresilience/rego/policy"
)

// The seed corpora live in testdata/fuzz/<FuzzName>/; `go test` runs them
// as regular tests. Run a fuzzer with, e.g.:
//
//	go test -run XXX -fuzz FuzzParseDocument -fuzztime 20s ./policy

// FuzzParseKey verifies that ParseKey and Key.Validate never panic, that a
// Key survives String/ParseKey, and that a valid key is a valid pattern.
func FuzzParseKey(f *testing.F) {
	f.Fuzz(func(t *testing.T, s string) {
		k := policy.ParseKey(s)
		if strings.Contains(k.Namespace, ".") {
			t.Fatalf("ParseKey(%q) namespace %q contains a dot", s, k.Namespace)
		}
		if back := policy.ParseKey(k.String()); back != k {
			t.Fatalf("ParseKey(%q) = %#v, but ParseKey(String()) = %#v", s, k, back)
		}
		// String reproduces the input except when nothing follows the first
		// dot ("svc." and "svc" are the same Key).
		if i := strings.IndexByte(s, '.'); (i < 0 || i < len(s)-1) && k.String() != s {
			t.Fatalf("ParseKey(%q).String() = %q", s, k.String())
		}
		err := k.Validate()
		if err == nil {
			if k.Namespace == "" || k.Name == "" || len(s) > policy.MaxKeyLength {
				t.Fatalf("Validate accepted %#v", k)
			}
			if perr := policy.ValidatePattern(s); perr != nil {
				t.Fatalf("valid key %q is not a valid pattern: %v", s, perr)
			}
			return
		}
		var ke *policy.KeyError
		if !errors.As(err, &ke) || !errors.Is(err, policy.ErrInvalidKey) || ke.Key != k.String() {
			t.Fatalf("Validate(%#v) = %v, want a *KeyError matching ErrInvalidKey", k, err)
		}
		_ = err.Error()
		if perr := policy.ValidatePattern(s); perr != nil && !errors.Is(perr, policy.ErrInvalidPattern) {
			t.Fatalf("ValidatePattern(%q) = %v, want ErrInvalidPattern", s, perr)
		}
	})
}

// FuzzParseDocument verifies that ParseDocument never panics, that its
// errors match ErrInvalidPolicy, and that an accepted document re-marshals
// (MarshalDocument) into one that parses back to an equal Set.
func FuzzParseDocument(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := policy.ParseDocument(data)
		// CheckDocument accepts exactly the documents ParseDocument does.
		if cs, _, cerr := policy.CheckDocument(data); (cerr == nil) != (err == nil) || (err == nil && !cs.Equal(s)) || cs == nil {
			t.Fatalf("CheckDocument = %v, %v; ParseDocument = %v, %v", cs, cerr, s, err)
		}
		if err != nil {
			if s != nil {
				t.Fatalf("ParseDocument returned both a Set and %v", err)
			}
			if !errors.Is(err, policy.ErrInvalidPolicy) {
				t.Fatalf("ParseDocument error %v does not match ErrInvalidPolicy", err)
			}
			_ = err.Error()
			return
		}
		// Every pattern resolves to itself for a key only it matches (a NUL
		// never appears in a valid exact pattern).
		for _, pat := range s.Patterns() {
			k := policy.ParseKey(pat)
			switch {
			case pat == "*":
				k = policy.Key{Namespace: "\x00"}
			case k.Name == "*":
				k.Name = "\x00"
			}
			if p, got, ok := s.Resolve(k); !ok || got != pat || p != p.Normalize() {
				t.Fatalf("Resolve(%#v) = %q, %v; want pattern %q and a normalized policy", k, got, ok, pat)
			}
		}
		out, err := policy.MarshalDocument(s)
		if err != nil {
			t.Fatalf("MarshalDocument of a parsed Set: %v", err)
		}
		back, err := policy.ParseDocument(out)
		if err != nil {
			t.Fatalf("re-parse of\n%s\nfailed: %v", out, err)
		}
		if !back.Equal(s) {
			t.Fatalf("round trip changed the Set:\nin:  %q\nout: %s", data, out)
		}
		again, err := policy.MarshalDocument(back)
		if err != nil || !bytes.Equal(again, out) {
			t.Fatalf("MarshalDocument is not stable:\n%s\n%s", out, again)
		}
	})
}

// FuzzParseDuration verifies that ParseDuration never panics, agrees with
// time.ParseDuration on non-negative values, and round-trips
// time.Duration.String (which is how policies are marshalled).
func FuzzParseDuration(f *testing.F) {
	f.Fuzz(func(t *testing.T, s string) {
		d, err := policy.ParseDuration(s)
		td, terr := time.ParseDuration(s)
		if err != nil {
			if !errors.Is(err, policy.ErrInvalidDuration) {
				t.Fatalf("ParseDuration(%q) = %v, want ErrInvalidDuration", s, err)
			}
			if terr == nil && td >= 0 {
				t.Fatalf("ParseDuration(%q) = %v, but time.ParseDuration accepts it: %v", s, err, td)
			}
			return
		}
		if d < 0 || terr != nil || d != td {
			t.Fatalf("ParseDuration(%q) = %v; time.ParseDuration = %v, %v", s, d, td, terr)
		}
		if back, err := policy.ParseDuration(d.String()); err != nil || back != d {
			t.Fatalf("ParseDuration(%q) = %v, but its String %q parses to %v, %v", s, d, d.String(), back, err)
		}
	})
}
