package policy

import (
	"errors"
	"strings"
)

// Wildcard is the pattern that matches every key.
const Wildcard = "*"

// ValidatePattern checks a policy pattern. The forms are:
//
//	"ns.Name"      exactly the key ParseKey("ns.Name")
//	"ns.Prefix.*"  every key in namespace ns whose name starts with "Prefix."
//	"ns.*"         every key in namespace ns
//	"*"            every key
//
// The prefix form exists for dotted names: gRPC keys such as
// "pkg.v1.UserService.GetUser" (namespace "pkg") are matched service by
// service with "pkg.v1.UserService.*".
//
// Anything else is an error matching ErrInvalidPattern (and ErrInvalidPolicy):
// "", a pattern without a dot, an empty part ("ns.", ".Name", "ns..*"), a
// wildcard anywhere but after the last dot or as the whole pattern ("a.*.b",
// "a.b*", "*.x"), or a literal part that Key.Validate rejects (the *KeyError
// is wrapped, so ErrHighCardinalityKey still matches).
func ValidatePattern(pattern string) error {
	_, err := parsePattern(pattern)
	return err
}

type patternKind uint8

const (
	patternExact     patternKind = iota // "ns.Name"
	patternPrefix                       // "ns.Prefix.*"
	patternNamespace                    // "ns.*"
	patternAll                          // "*"
)

// parsePattern classifies pattern, returning a *PatternError if it is invalid.
func parsePattern(pattern string) (patternKind, error) {
	bad := func(reason string, cause error) (patternKind, error) {
		return 0, &PatternError{Pattern: pattern, Reason: reason, Err: cause}
	}
	const want = `want "ns.Name", "ns.Prefix.*", "ns.*" or "*"`
	if pattern == Wildcard {
		return patternAll, nil
	}
	if pattern == "" {
		return bad("empty ("+want+")", nil)
	}
	ns, name, found := strings.Cut(pattern, ".")
	switch {
	case !found:
		return bad(`no "." (`+want+`)`, nil)
	case strings.Contains(ns, Wildcard):
		return bad(`the namespace cannot be a wildcard (use "*" for every key)`, nil)
	case ns == "":
		return bad("empty namespace ("+want+")", nil)
	case name == "":
		return bad(`empty name after "." (`+want+`)`, nil)
	case name == Wildcard:
		// Check the namespace as a key part; "x" stands in for the name.
		if err := (Key{Namespace: ns, Name: "x"}).Validate(); err != nil {
			var ke *KeyError
			errors.As(err, &ke)
			return bad("namespace: "+ke.Reason, err)
		}
		return patternNamespace, nil
	case strings.HasSuffix(name, "."+Wildcard) && !strings.Contains(name[:len(name)-2], Wildcard):
		prefix := name[:len(name)-2]
		if prefix == "" || prefix[len(prefix)-1] == '.' {
			return bad(`empty name part before ".*"`, nil)
		}
		if err := (Key{Namespace: ns, Name: prefix}).Validate(); err != nil {
			var ke *KeyError
			errors.As(err, &ke)
			return bad(ke.Reason, err)
		}
		return patternPrefix, nil
	case strings.Contains(name, Wildcard):
		return bad(`a wildcard must be the whole name ("ns.*")`, nil)
	}
	if err := (Key{Namespace: ns, Name: name}).Validate(); err != nil {
		var ke *KeyError
		errors.As(err, &ke)
		return bad(ke.Reason, err)
	}
	return patternExact, nil
}
