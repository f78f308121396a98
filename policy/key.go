package policy

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Key names one kind of operation: a namespace (usually the service or
// dependency) and a name (usually the method). All calls with the same Key
// share one policy, one latency tracker and one set of budgets, so a Key must
// name an operation, never a request: "users.GetUser", not
// "users.GetUser/42".
//
// The zero Key is not valid; ParseKey and a struct literal are the ways to
// build one.
type Key struct {
	Namespace string // before the first dot; never contains '.'
	Name      string // after the first dot; may contain more dots
}

// MaxKeyLength is the longest key, in bytes of Key.String(), that
// Key.Validate accepts.
const MaxKeyLength = 128

// ParseKey splits s at its first dot: "db.Users.Query" is
// {Namespace: "db", Name: "Users.Query"}; "svc" is {Namespace: "svc"}.
// It never fails and never panics; call Key.Validate to check the result.
//
// For every s, ParseKey(ParseKey(s).String()) == ParseKey(s), and
// ParseKey(s).String() == s unless s ends with its first dot ("svc.").
func ParseKey(s string) Key {
	if i := strings.IndexByte(s, '.'); i >= 0 {
		return Key{Namespace: s[:i], Name: s[i+1:]}
	}
	return Key{Namespace: s}
}

// String returns "Namespace.Name", or just "Namespace" when Name is empty.
func (k Key) String() string {
	if k.Name == "" {
		return k.Namespace
	}
	return k.Namespace + "." + k.Name
}

// IsZero reports whether k is the zero Key.
func (k Key) IsZero() bool { return k.Namespace == "" && k.Name == "" }

// Validate returns nil when k is usable as a key, else a *KeyError that
// matches ErrInvalidKey.
//
// A key is invalid when a part is empty, when the namespace contains a dot
// (String and ParseKey could not round-trip it), or when it looks
// high-cardinality; the latter errors also match ErrHighCardinalityKey.
// High-cardinality means any of: longer than MaxKeyLength bytes; whitespace;
// one of / \ ? = : * & # @ % , ; ; a non-printable character or invalid
// UTF-8; a run of 6 or more digits; a UUID; a run of 16 or more hex
// characters that includes a digit. Those are the shapes of IDs, paths,
// query strings, hashes and free text.
//
// Validate does not allocate when k is valid.
func (k Key) Validate() error {
	switch {
	case k.Namespace == "":
		return k.invalid(`empty namespace (want "namespace.Name")`)
	case k.Name == "":
		return k.invalid(`empty name (want "namespace.Name")`)
	case strings.IndexByte(k.Namespace, '.') >= 0:
		return k.invalid("namespace contains '.' (the namespace ends at the first dot)")
	}
	if n := len(k.Namespace) + 1 + len(k.Name); n > MaxKeyLength {
		return k.highCard("longer than " + strconv.Itoa(MaxKeyLength) + " bytes (" + strconv.Itoa(n) + ")")
	}
	if reason := cardinalityProblem(k.Namespace); reason != "" {
		return k.highCard(reason)
	}
	if reason := cardinalityProblem(k.Name); reason != "" {
		return k.highCard(reason)
	}
	return nil
}

func (k Key) invalid(reason string) error {
	return &KeyError{Key: k.String(), Reason: reason, Err: ErrInvalidKey}
}

func (k Key) highCard(reason string) error {
	return &KeyError{Key: k.String(), Reason: reason, Err: ErrHighCardinalityKey}
}

// Thresholds of the high-cardinality heuristics. Six digits separates
// versions and years ("v2", "2024") from IDs and timestamps; sixteen hex
// characters is the shortest common hash/trace-ID rendering.
const (
	maxDigitRun = 5
	maxHexRun   = 15
)

// cardinalityProblem returns why part looks like request data, or "".
func cardinalityProblem(part string) string {
	digits, hex, hexDigit := 0, 0, false
	for i := 0; i < len(part); {
		if c := part[i]; c < utf8.RuneSelf {
			// ASCII, the common case, is classified by table.
			cls := asciiClass[c]
			if cls&classBad != 0 {
				return asciiProblem(c)
			}
			if cls&classDigit != 0 {
				if digits++; digits > maxDigitRun {
					return "contains a run of " + strconv.Itoa(maxDigitRun+1) + "+ digits (an ID or timestamp?)"
				}
			} else {
				digits = 0
			}
			if cls&classHex != 0 {
				hex++
				hexDigit = hexDigit || cls&classDigit != 0
				if hex > maxHexRun && hexDigit {
					return "contains a run of " + strconv.Itoa(maxHexRun+1) + "+ hex characters (a hash or trace ID?)"
				}
			} else {
				hex, hexDigit = 0, false
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(part[i:])
		switch {
		case r == utf8.RuneError && size <= 1:
			return "contains invalid UTF-8"
		case r == utf8.RuneError:
			return "contains U+FFFD (a replacement for undecodable input)"
		case unicode.IsSpace(r):
			return "contains whitespace " + strconv.QuoteRune(r) + " (free text or a request line?)"
		case !unicode.IsPrint(r):
			return "contains non-printable character " + strconv.QuoteRune(r)
		}
		digits, hex, hexDigit = 0, 0, false
		i += size
	}
	if hasUUID(part) {
		return "contains a UUID"
	}
	return ""
}

// Character classes of ASCII bytes for cardinalityProblem.
const (
	classDigit = 1 << iota
	classHex
	classBad // whitespace, control, or punctuation that marks request data
)

var asciiClass = func() (t [utf8.RuneSelf]uint8) {
	for c := range t {
		switch {
		case c >= '0' && c <= '9':
			t[c] = classDigit | classHex
		case c >= 'a' && c <= 'f', c >= 'A' && c <= 'F':
			t[c] = classHex
		case c <= ' ' || c == 0x7f || punctProblem(rune(c)) != "":
			t[c] = classBad
		}
	}
	return t
}()

func asciiProblem(c byte) string {
	switch {
	case c == ' ' || c >= '\t' && c <= '\r':
		return "contains whitespace " + strconv.QuoteRune(rune(c)) + " (free text or a request line?)"
	case c < ' ' || c == 0x7f:
		return "contains non-printable character " + strconv.QuoteRune(rune(c))
	}
	return punctProblem(rune(c))
}

func punctProblem(r rune) string {
	switch r {
	case '/', '\\':
		return "contains " + strconv.QuoteRune(r) + " (a URL or file path? use the route template's operation name)"
	case '?', '=', '&', ';', '#', '%':
		return "contains " + strconv.QuoteRune(r) + " (a query string, fragment or URL-encoded data?)"
	case ':':
		return "contains ':' (a host:port, URL scheme or composite ID?)"
	case '*':
		return "contains '*' (wildcards belong in policy patterns, not keys)"
	case '@':
		return "contains '@' (an e-mail address or user@host?)"
	case ',':
		return "contains ',' (a list of values?)"
	}
	return ""
}

func isHex(r rune) bool {
	return r >= '0' && r <= '9' || r >= 'a' && r <= 'f' || r >= 'A' && r <= 'F'
}

// hasUUID reports whether s contains the 8-4-4-4-12 hex shape of a UUID.
// Undashed UUIDs are caught by the hex-run rule.
func hasUUID(s string) bool {
	const uuidLen = 36
	for i := 0; i+uuidLen <= len(s); i++ {
		if isUUID(s[i : i+uuidLen]) {
			return true
		}
	}
	return false
}

func isUUID(s string) bool {
	for i := 0; i < len(s); i++ {
		switch i {
		case 8, 13, 18, 23:
			if s[i] != '-' {
				return false
			}
		default:
			if !isHex(rune(s[i])) {
				return false
			}
		}
	}
	return true
}
