package policy_test

import (
	"encoding/json"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/regoresilience/rego/policy"
)

const goodDocument = `{
  "policies": {
    "users.GetUser": {
      "retry": {"max_attempts": 4, "initial_backoff": "50ms", "attempt_timeout": "300ms"},
      "timeout": "1s",
      "classifier": "http"
    },
    "users.*": {"hedge": {"max_hedges": 1, "delay": "50ms", "percentile": 95}},
    "*": {"retry": {"max_attempts": 2, "jitter": "equal"}, "retry_budget": "global"}
  }
}`

func TestParseDocument(t *testing.T) {
	s, err := policy.ParseDocument([]byte(goodDocument))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]policy.Policy{
		"users.GetUser": {
			Retry:   policy.Retry{MaxAttempts: 4, InitialBackoff: 50 * time.Millisecond, AttemptTimeout: 300 * time.Millisecond},
			Timeout: time.Second, Classifier: "http",
		},
		"users.*": {Hedge: policy.Hedge{MaxHedges: 1, Delay: 50 * time.Millisecond, Percentile: 95}},
		"*":       {Retry: policy.Retry{MaxAttempts: 2, Jitter: policy.JitterEqual}, RetryBudget: "global"},
	}
	if !s.Equal(mustSet(t, want)) {
		t.Errorf("ParseDocument = %v, want %v", s.Policies(), want)
	}
	p, pattern, ok := s.Resolve(policy.ParseKey("users.ListUsers"))
	if !ok || pattern != "users.*" || p.Hedge.MinSamples != 100 || p.Retry.MaxAttempts != 3 {
		t.Errorf("Resolve = %+v, %q, %v", p, pattern, ok)
	}

	for _, in := range []string{
		`{"policies":{}}`,
		"\xef\xbb\xbf{\"policies\":{}}", // byte order mark
		" \n\t{\"policies\" : { } }\n\n",
	} {
		s, err := policy.ParseDocument([]byte(in))
		if err != nil || s.Len() != 0 {
			t.Errorf("ParseDocument(%q) = %v, %v; want an empty Set", in, s, err)
		}
	}
}

func TestParseDocumentErrors(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []string // every problem, in document order
	}{
		{"empty", ``, []string{`policy: invalid policy: empty document`}},
		{"blank", " \n\t ", []string{`policy: invalid policy: empty document`}},
		{"truncated", `{"policies": {`,
			[]string{`policy: invalid policy: malformed JSON: unexpected end of input at line 1, column 15: unexpected EOF`}},
		{"syntax", "{\"policies\": {\n  \"a.b\": {\"timeout\": \"1s\",}\n}}",
			[]string{`policy: invalid policy: malformed JSON at line 2, column 27: invalid character '}' looking for beginning of object key string`}},
		{"trailing data", `{"policies":{}} {"policies":{}}`,
			[]string{`policy: invalid policy: unexpected data after the document at line 1, column 17`}},
		{"trailing garbage", "{\"policies\":{}}\n]",
			[]string{`policy: invalid policy: unexpected data after the document at line 2, column 1`}},
		{"not an object", `[{"policies":{}}]`, []string{`document: must be a JSON object, not an array`}},
		{"string", `"policies"`, []string{`document: must be a JSON object, not a string`}},
		{"null", `null`, []string{`document: must be a JSON object, not null`}},
		{"missing policies", `{}`, []string{`document: missing field "policies"`}},
		{"unknown top-level", `{"policies":{},"version":2}`,
			[]string{`document: unknown field "version" (known: "policies")`}},
		{"misspelt top-level", `{"policy":{}}`,
			[]string{`document: unknown field "policy" (did you mean "policies"?)`}},
		{"policies null", `{"policies":null}`, []string{`policies: must be a JSON object, not null`}},
		{"policies array", `{"policies":[]}`, []string{`policies: must be a JSON object, not an array`}},
		{"duplicate policies", `{"policies":{},"policies":{}}`, []string{`policies: duplicate entry`}},
		{"policy not object", `{"policies":{"svc.Op": 3}}`,
			[]string{`policies["svc.Op"]: must be a JSON object, not a number`}},
		{"policy null", `{"policies":{"svc.Op": null}}`,
			[]string{`policies["svc.Op"]: must be a JSON object, not null`}},
		{"duplicate pattern", `{"policies":{"svc.Op": {}, "svc.Op": {"timeout":"1s"}}}`,
			[]string{`policies["svc.Op"]: duplicate entry`}},
		{"duplicate pattern escaped", `{"policies":{"svc.Op": {}, "svc\u002eOp": {}}}`,
			[]string{`policies["svc.Op"]: duplicate entry`}},
		{"invalid patterns", `{"policies":{"a.*.b":{}, "":{}, "*.x":{}, "ns.":{}, "svc":{}, "svc.Get/1":{}}}`,
			[]string{
				`policies: invalid pattern "a.*.b": a wildcard must be the whole name ("ns.*")`,
				`policies: invalid pattern "": empty (want "ns.Name", "ns.Prefix.*", "ns.*" or "*")`,
				`policies: invalid pattern "*.x": the namespace cannot be a wildcard (use "*" for every key)`,
				`policies: invalid pattern "ns.": empty name after "." (want "ns.Name", "ns.Prefix.*", "ns.*" or "*")`,
				`policies: invalid pattern "svc": no "." (want "ns.Name", "ns.Prefix.*", "ns.*" or "*")`,
				`policies: invalid pattern "svc.Get/1": contains '/' (a URL or file path? use the route template's operation name)`,
			}},
		{"field errors name the key", `{"policies":{"svc.Op":{"retry":{"max_attempts":0}}}}`,
			[]string{`policies["svc.Op"].retry.max_attempts: must be >= 1`}},
		{"unknown nested field", `{"policies":{"svc.*":{"hedge":{"max_hedges":1,"delay":"1ms","dealy":"2ms"}}}}`,
			[]string{`policies["svc.*"].hedge: unknown field "dealy" (did you mean "delay"?)`}},
		{"validation and decoding together", `{"policies":{
			"*":{"timeout":"-5s"},
			"a.B":{"retry":{"max_attempts":5000}},
			"c.*":{"hedge":{"max_hedges":2}},
			"bad.*.x":{"retry":{"multiplier":"2"}}}}`,
			[]string{
				`policies["*"].timeout: must not be negative (got "-5s")`,
				`policies["a.B"].retry.max_attempts: must be <= 1000`,
				`policies["c.*"].hedge.delay: must be > 0 when max_hedges > 0`,
				`policies: invalid pattern "bad.*.x": a wildcard must be the whole name ("ns.*")`,
				`policies["bad.*.x"].retry.multiplier: must be a number, not a string`,
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := policy.ParseDocument([]byte(tt.in))
			if s != nil {
				t.Errorf("got a Set %v alongside the error", s)
			}
			if got := fieldErrors(err); !slices.Equal(got, tt.want) {
				t.Fatalf("ParseDocument(%s)\n got %q\nwant %q", tt.in, got, tt.want)
			}
			if !allMatch(err, policy.ErrInvalidPolicy) {
				t.Errorf("not every problem matches ErrInvalidPolicy: %v", err)
			}
		})
	}
}

func TestParseDocumentSyntaxErrorDetails(t *testing.T) {
	_, err := policy.ParseDocument([]byte(`{"policies": x}`))
	var se *json.SyntaxError
	if !errors.As(err, &se) || se.Offset != 14 {
		t.Errorf("errors.As(*json.SyntaxError) = %v (%v), want offset 14", se, err)
	}
	_, err = policy.ParseDocument([]byte(`{"policies": {"a.b": {`))
	if !errors.Is(err, io.ErrUnexpectedEOF) || !errors.Is(err, policy.ErrInvalidPolicy) {
		t.Errorf("truncated input: %v, want ErrUnexpectedEOF and ErrInvalidPolicy", err)
	}
}

// TestParseDocumentHostile feeds inputs shaped to hurt a careless decoder:
// deep nesting, huge numbers, long keys. Each must fail cleanly and quickly.
func TestParseDocumentHostile(t *testing.T) {
	inputs := map[string]string{
		"deep nesting":  `{"policies":{"a.b":{"retry":` + strings.Repeat("[", 20000) + strings.Repeat("]", 20000) + `}}}`,
		"deep unclosed": strings.Repeat("{", 100000),
		"long pattern":  `{"policies":{"` + strings.Repeat("x", 1<<20) + `":{}}}`,
		"long field":    `{"policies":{"a.b":{"` + strings.Repeat("y", 1<<20) + `":1}}}`,
		"long duration": `{"policies":{"a.b":{"timeout":"` + strings.Repeat("9", 1<<20) + `s"}}}`,
		"big number":    `{"policies":{"a.b":{"retry":{"max_attempts":` + strings.Repeat("9", 1<<16) + `}}}}`,
		"nul bytes":     "{\"policies\":{\"a.b\":{}}}\x00",
		"invalid utf8":  "{\"policies\":{\"a.\xff\":{}}}",
		"utf16 bom":     "\xff\xfe{\x00}\x00",
	}
	for name, in := range inputs {
		_, err := policy.ParseDocument([]byte(in))
		if !errors.Is(err, policy.ErrInvalidPolicy) {
			t.Errorf("%s: got %v, want ErrInvalidPolicy", name, err)
			continue
		}
		if n := len(err.Error()); n > 2000 {
			t.Errorf("%s: error message is %d bytes; want it bounded", name, n)
		}
	}
}

func TestMarshalDocumentRoundTrip(t *testing.T) {
	r := newRand(4)
	patterns := []string{"*", "svc.*", "svc.Op", "db.Users.Query", "db.*", "cache.get-or-set"}
	for i := range 300 {
		m := map[string]policy.Policy{}
		for _, pat := range patterns {
			if r.IntN(2) == 0 {
				m[pat] = validPolicy(r)
			}
		}
		s := mustSet(t, m)
		data, err := policy.MarshalDocument(s)
		if err != nil {
			t.Fatalf("#%d MarshalDocument: %v", i, err)
		}
		back, err := policy.ParseDocument(data)
		if err != nil {
			t.Fatalf("#%d ParseDocument(%s): %v", i, data, err)
		}
		if !back.Equal(s) {
			t.Fatalf("#%d round trip changed the set:\n%s", i, data)
		}
	}

	for _, s := range []*policy.Set{nil, mustSet(t, nil)} {
		data, err := policy.MarshalDocument(s)
		if err != nil || string(data) != "{\n  \"policies\": {}\n}\n" {
			t.Errorf("MarshalDocument(empty) = %q, %v", data, err)
		}
	}
}
