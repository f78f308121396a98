package policy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
)

// ParseDocument parses a policy document and returns its Set:
//
//	{"policies": {"svc.Op": {...}, "svc.*": {...}, "*": {...}}}
//
// Each value is a Policy in its JSON form (see Policy.UnmarshalJSON). The
// decoding is strict: empty input, malformed JSON, data after the document,
// unknown or duplicate fields at any depth, a missing "policies" object,
// invalid patterns and invalid policies are all errors. Problems are reported
// together (errors.Join, up to 20), each naming the pattern and field:
//
//	policies["svc.Op"].retry.max_attempts: must be >= 1
//
// Every error matches ErrInvalidPolicy. For malformed JSON the error says
// the line and column and wraps the *json.SyntaxError (errors.As gives its
// Offset), or io.ErrUnexpectedEOF for truncated input. A leading UTF-8 byte
// order mark is ignored.
func ParseDocument(data []byte) (*Set, error) {
	policies, order, err := parseDocument(data, 0, nil)
	if err != nil {
		return nil, err
	}
	return buildSet(policies, order), nil
}

// parseDocument decodes and validates a document, reporting up to limit
// problems (see errList.limit). It returns the policies as written (not
// normalized) and their patterns sorted; on error, those of the policies
// that decoded and validated cleanly under a valid pattern.
//
// visit, when not nil, is called with every policy decoded, valid or not
// (a field that failed to decode is zero), and whether a problem was
// reported at a given path.
func parseDocument(data []byte, limit int, visit func(pattern string, p Policy, reported func(path string) bool)) (map[string]Policy, []string, error) {
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, nil, &documentError{msg: "empty document"}
	}
	// Check the syntax of the whole input first, so that syntax errors carry
	// offsets into data rather than into some nested value.
	dec := json.NewDecoder(bytes.NewReader(data))
	var doc json.RawMessage
	if err := dec.Decode(&doc); err != nil {
		return nil, nil, syntaxError(data, err)
	}
	if off := dec.InputOffset(); len(bytes.TrimSpace(data[off:])) > 0 {
		line, col := position(data, off+int64(len(data[off:])-len(bytes.TrimLeft(data[off:], " \t\r\n"))))
		return nil, nil, &documentError{msg: fmt.Sprintf("unexpected data after the document at line %d, column %d", line, col)}
	}

	l := errList{limit: limit}
	policies := map[string]Policy{}
	var order []string // document order, for the error report
	sawPolicies := false
	walkObject(doc, "", "document", []string{"policies"}, &l, func(_, path string, v []byte) {
		sawPolicies = true
		walkObject(v, path, path, nil, &l, func(pattern, path string, v []byte) {
			before := l.n()
			if _, err := parsePattern(pattern); err != nil {
				l.add(fmt.Errorf("policies: %w", err))
			}
			p, _ := decodePolicy(v, path, &l)
			p.validateDecoded(path+".", &l)
			if visit != nil {
				visit(pattern, p, l.reported)
			}
			if l.n() == before {
				order = append(order, pattern)
				policies[pattern] = p
			}
		})
	})
	if !sawPolicies && l.n() == 0 {
		l.field("document", `missing field "policies"`)
	}
	slices.Sort(order)
	return policies, order, l.err()
}

// syntaxError turns a json decoding error of the whole document into an
// error with a line and column.
func syntaxError(data []byte, err error) error {
	var se *json.SyntaxError
	switch {
	case errors.As(err, &se):
		line, col := position(data, max(se.Offset-1, 0))
		return &documentError{msg: fmt.Sprintf("malformed JSON at line %d, column %d", line, col), err: err}
	case errors.Is(err, io.ErrUnexpectedEOF):
		line, col := position(data, int64(len(data)))
		return &documentError{msg: fmt.Sprintf("malformed JSON: unexpected end of input at line %d, column %d", line, col), err: err}
	default:
		return &documentError{msg: "malformed JSON", err: err}
	}
}

// documentError reports a document that could not be read as JSON at all.
// It matches ErrInvalidPolicy and unwraps to the decoder's error (a
// *json.SyntaxError or io.ErrUnexpectedEOF), if any.
type documentError struct {
	msg string
	err error
}

func (e *documentError) Error() string {
	s := ErrInvalidPolicy.Error() + ": " + e.msg
	if e.err != nil {
		s += ": " + e.err.Error()
	}
	return s
}

func (e *documentError) Unwrap() error        { return e.err }
func (e *documentError) Is(target error) bool { return target == ErrInvalidPolicy }

// position converts a byte offset into a 1-based line and column (in bytes).
func position(data []byte, off int64) (line, col int) {
	off = min(max(off, 0), int64(len(data)))
	before := data[:off]
	line = 1 + bytes.Count(before, []byte("\n"))
	col = int(off) - (bytes.LastIndexByte(before, '\n') + 1) + 1
	return line, col
}

// MarshalDocument renders s as an indented policy document (patterns sorted,
// policies normalized, so every default is spelled out). The result parses
// back, with ParseDocument, to a Set equal to s. A nil Set renders as an
// empty document.
func MarshalDocument(s *Set) ([]byte, error) {
	doc := struct {
		Policies map[string]Policy `json:"policies"`
	}{s.Policies()}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return nil, fmt.Errorf("policy: marshal document: %w", err)
	}
	return buf.Bytes(), nil
}
