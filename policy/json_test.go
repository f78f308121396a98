package policy_test

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/regoresilience/rego/policy"
)

// contractJSON is the example from the API contract, every field set.
const contractJSON = `{"retry":{"max_attempts":3,"initial_backoff":"100ms","max_backoff":"5s","multiplier":2,
  "jitter":"full","attempt_timeout":"1s","max_retry_after":"30s"},
 "hedge":{"max_hedges":1,"delay":"50ms","percentile":95,"min_samples":100,"min_delay":"5ms","max_delay":"1s"},
 "timeout":"2s","classifier":"http","retry_budget":"shared","hedge_budget":""}`

var contractPolicy = policy.Policy{
	Retry: policy.Retry{MaxAttempts: 3, InitialBackoff: 100 * time.Millisecond, MaxBackoff: 5 * time.Second,
		Multiplier: 2, Jitter: policy.JitterFull, AttemptTimeout: time.Second, MaxRetryAfter: 30 * time.Second},
	Hedge: policy.Hedge{MaxHedges: 1, Delay: 50 * time.Millisecond, Percentile: 95, MinSamples: 100,
		MinDelay: 5 * time.Millisecond, MaxDelay: time.Second},
	Timeout: 2 * time.Second, Classifier: "http", RetryBudget: "shared",
}

func TestUnmarshalJSON(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want policy.Policy
	}{
		{"contract example", contractJSON, contractPolicy},
		{"empty object", `{}`, policy.Policy{}},
		{"empty nested", `{"retry":{},"hedge":{}}`, policy.Policy{}},
		{"omitted means default", `{"retry":{"max_attempts":1}}`, policy.Policy{Retry: policy.Retry{MaxAttempts: 1}}},
		{"zero where zero means off", `{"timeout":"0s","retry":{"attempt_timeout":"0"},"hedge":{"max_hedges":0,"delay":"0s","percentile":0,"min_delay":"0s","max_delay":"0s"}}`,
			policy.Policy{}},
		{"jitter modes", `{"retry":{"jitter":"decorrelated"}}`, policy.Policy{Retry: policy.Retry{Jitter: policy.JitterDecorrelated}}},
		{"fractional durations", `{"timeout":"1.5s","retry":{"initial_backoff":"250us"}}`,
			policy.Policy{Timeout: 1500 * time.Millisecond, Retry: policy.Retry{InitialBackoff: 250 * time.Microsecond}}},
		{"escaped names", `{"retry":{"max_\u0061ttempts":2}}`, policy.Policy{Retry: policy.Retry{MaxAttempts: 2}}},
		{"whitespace", " \n{ \"timeout\" : \"1s\" }\t", policy.Policy{Timeout: time.Second}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got policy.Policy
			if err := json.Unmarshal([]byte(tt.in), &got); err != nil {
				t.Fatalf("Unmarshal: %v", err)
			}
			if got != tt.want {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestUnmarshalJSONErrors(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []string
	}{
		{"unknown root field", `{"retyr":{}}`,
			[]string{`policy: unknown field "retyr" (did you mean "retry"?)`}},
		{"unknown root field far", `{"retries":{}}`,
			[]string{`policy: unknown field "retries" (known: "retry", "hedge", "timeout", "classifier", "retry_budget", "hedge_budget", "breaker")`}},
		{"unknown retry field", `{"retry":{"max_attempt":2}}`,
			[]string{`retry: unknown field "max_attempt" (did you mean "max_attempts"?)`}},
		{"unknown hedge field", `{"hedge":{"max_hedges":1,"delay":"1ms","quantile":95}}`,
			[]string{`hedge: unknown field "quantile" (known: "max_hedges", "delay", "percentile", "min_samples", "min_delay", "max_delay")`}},
		{"case differs", `{"Retry":{}}`,
			[]string{`policy: unknown field "Retry" (did you mean "retry"?)`}},
		{"camel case", `{"retry":{"maxAttempts":2}}`,
			[]string{`retry: unknown field "maxAttempts" (did you mean "max_attempts"?)`}},
		{"duplicate", `{"timeout":"1s","timeout":"2s"}`,
			[]string{`timeout: duplicate entry`}},
		{"duplicate nested", `{"retry":{"jitter":"none","jitter":"full"}}`,
			[]string{`retry.jitter: duplicate entry`}},
		{"not an object", `[]`, []string{`policy: must be a JSON object, not an array`}},
		{"retry null", `{"retry":null}`, []string{`retry: must be a JSON object, not null`}},
		{"hedge array", `{"hedge":[1]}`, []string{`hedge: must be a JSON object, not an array`}},
		{"attempts as string", `{"retry":{"max_attempts":"3"}}`,
			[]string{`retry.max_attempts: must be an integer, not a string`}},
		{"attempts fractional", `{"retry":{"max_attempts":2.5}}`,
			[]string{`retry.max_attempts: must be an integer, not "2.5"`}},
		{"attempts exponent", `{"retry":{"max_attempts":1e3}}`,
			[]string{`retry.max_attempts: must be an integer, not "1e3"`}},
		{"attempts overflow", `{"retry":{"max_attempts":99999999999999999999}}`,
			[]string{`retry.max_attempts: must be an integer, not "99999999999999999999"`}},
		{"attempts null", `{"retry":{"max_attempts":null}}`,
			[]string{`retry.max_attempts: must be an integer, not null`}},
		{"explicit zero attempts", `{"retry":{"max_attempts":0}}`,
			[]string{`retry.max_attempts: must be >= 1`}},
		{"explicit zero defaults", `{"retry":{"initial_backoff":"0s","max_backoff":"0ms","multiplier":0,"max_retry_after":"0"},"hedge":{"min_samples":0}}`,
			[]string{
				`retry.initial_backoff: must be > 0`,
				`retry.max_backoff: must be > 0`,
				`retry.multiplier: must be >= 1`,
				`retry.max_retry_after: must be > 0`,
				`hedge.min_samples: must be >= 1`,
			}},
		{"negative attempts", `{"retry":{"max_attempts":-1}}`, []string{`retry.max_attempts: must be >= 1`}},
		{"absurd attempts", `{"retry":{"max_attempts":5000}}`, []string{`retry.max_attempts: must be <= 1000`}},
		{"negative duration", `{"timeout":"-1s"}`, []string{`timeout: must not be negative (got "-1s")`}},
		{"duration as number", `{"timeout":1000}`,
			[]string{`timeout: must be a duration string such as "250ms", not a number`}},
		{"duration without unit", `{"timeout":"100"}`,
			[]string{`timeout: "100" is not a Go duration such as "250ms" or "1.5s"`}},
		{"duration garbage", `{"retry":{"attempt_timeout":"soon"}}`,
			[]string{`retry.attempt_timeout: "soon" is not a Go duration such as "250ms" or "1.5s"`}},
		{"duration overflow", `{"timeout":"9999999999h"}`,
			[]string{`timeout: "9999999999h" is not a Go duration such as "250ms" or "1.5s"`}},
		{"duration absurd", `{"timeout":"25h"}`, []string{`timeout: must be <= 24h`}},
		{"multiplier string", `{"retry":{"multiplier":"2"}}`, []string{`retry.multiplier: must be a number, not a string`}},
		{"multiplier huge", `{"retry":{"multiplier":1e400}}`, []string{`retry.multiplier: must be a finite number, not "1e400"`}},
		{"multiplier small", `{"retry":{"multiplier":0.5}}`, []string{`retry.multiplier: must be >= 1`}},
		{"jitter case", `{"retry":{"jitter":"Full"}}`,
			[]string{`retry.jitter: unknown mode "Full" (want "full", "equal", "decorrelated" or "none")`}},
		{"jitter number", `{"retry":{"jitter":0}}`, []string{`retry.jitter: must be a string, not a number`}},
		{"percentile 100", `{"hedge":{"percentile":100}}`, []string{`hedge.percentile: must be > 0 and < 100`}},
		{"hedge without delay", `{"hedge":{"max_hedges":2,"percentile":90}}`,
			[]string{`hedge.delay: must be > 0 when max_hedges > 0`}},
		{"classifier number", `{"classifier":5}`, []string{`classifier: must be a string, not a number`}},
		{"classifier bool", `{"classifier":true}`, []string{`classifier: must be a string, not a boolean`}},
		{"budget padded", `{"retry_budget":"shared "}`, []string{`retry_budget: must not start or end with whitespace`}},
		{"several at once", `{"retry":{"max_attempts":0,"foo":1},"hedge":{"percentile":"95"},"bar":2}`,
			[]string{
				`retry.max_attempts: must be >= 1`,
				`retry: unknown field "foo" (known: "max_attempts", "initial_backoff", "max_backoff", "multiplier", "jitter", "attempt_timeout", "max_retry_after")`,
				`hedge.percentile: must be a number, not a string`,
				`policy: unknown field "bar" (known: "retry", "hedge", "timeout", "classifier", "retry_budget", "hedge_budget", "breaker")`,
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := policy.Policy{Classifier: "untouched"}
			err := json.Unmarshal([]byte(tt.in), &p)
			if got := fieldErrors(err); !slices.Equal(got, tt.want) {
				t.Fatalf("Unmarshal(%s)\n got %q\nwant %q", tt.in, got, tt.want)
			}
			if !allMatch(err, policy.ErrInvalidPolicy) {
				t.Errorf("not every problem matches ErrInvalidPolicy: %v", err)
			}
			if p.Classifier != "untouched" {
				t.Errorf("failed Unmarshal modified the policy: %+v", p)
			}
		})
	}
}

// TestUnmarshalJSONNested verifies strictness when a Policy sits inside the
// caller's own struct: encoding/json hands UnmarshalJSON raw bytes, so the
// caller's DisallowUnknownFields cannot reach nested fields; the Policy must
// refuse them itself.
func TestUnmarshalJSONNested(t *testing.T) {
	var cfg struct {
		Name   string        `json:"name"`
		Policy policy.Policy `json:"policy"`
	}
	err := json.Unmarshal([]byte(`{"name":"x","policy":{"hedge":{"max_hedges":1,"delay":"1ms","typo":1}}}`), &cfg)
	if !errors.Is(err, policy.ErrInvalidPolicy) || !strings.Contains(err.Error(), `hedge: unknown field "typo"`) {
		t.Errorf("got %v, want the nested unknown field rejected", err)
	}
	if err := json.Unmarshal([]byte(`{"name":"x","policy":{"timeout":"3s"}}`), &cfg); err != nil || cfg.Policy.Timeout != 3*time.Second {
		t.Errorf("got %v, %+v", err, cfg.Policy)
	}
}

func TestUnmarshalJSONNullAndReplace(t *testing.T) {
	p := contractPolicy
	if err := json.Unmarshal([]byte(`null`), &p); err != nil || p != contractPolicy {
		t.Errorf("null: got %v, %+v; want no change", err, p)
	}
	// A document replaces the whole policy: absent fields become zero.
	if err := json.Unmarshal([]byte(`{"timeout":"1s"}`), &p); err != nil || p != (policy.Policy{Timeout: time.Second}) {
		t.Errorf("got %v, %+v; want only the timeout", err, p)
	}
	// Called directly with bytes encoding/json never passes.
	for _, in := range []string{``, `{`, `{"timeout":"1s"} x`, `{"timeout"`, `{"a" 1}`, `{,}`} {
		if err := p.UnmarshalJSON([]byte(in)); !errors.Is(err, policy.ErrInvalidPolicy) {
			t.Errorf("UnmarshalJSON(%q) = %v, want ErrInvalidPolicy", in, err)
		}
	}
}

func TestMarshalJSON(t *testing.T) {
	tests := []struct {
		p    policy.Policy
		want string
	}{
		{policy.Policy{}, `{}`},
		{policy.Policy{Timeout: time.Second}, `{"timeout":"1s"}`},
		{policy.Policy{Retry: policy.Retry{Jitter: policy.JitterEqual}}, `{"retry":{"jitter":"equal"}}`},
		{policy.Policy{Classifier: "a<b>&c"}, `{"classifier":"a<b>&c"}`},
		{contractPolicy, `{"retry":{"max_attempts":3,"initial_backoff":"100ms","max_backoff":"5s","multiplier":2,` +
			`"jitter":"full","attempt_timeout":"1s","max_retry_after":"30s"},"hedge":{"max_hedges":1,"delay":"50ms",` +
			`"percentile":95,"min_samples":100,"min_delay":"5ms","max_delay":"1s"},"timeout":"2s","classifier":"http",` +
			`"retry_budget":"shared"}`},
	}
	for _, tt := range tests {
		got, err := tt.p.MarshalJSON() // json.Marshal would re-escape <, > and &
		if err != nil || string(got) != tt.want {
			t.Errorf("Marshal(%+v)\n got %s, %v\nwant %s", tt.p, got, err, tt.want)
		}
	}
	if _, err := json.Marshal(policy.Policy{Retry: policy.Retry{MaxAttempts: -1}}); !errors.Is(err, policy.ErrInvalidPolicy) {
		t.Errorf("Marshal of an invalid policy: %v, want ErrInvalidPolicy", err)
	}
}

// TestJSONRoundTrip verifies that every valid policy, normalized or not,
// survives Marshal then Unmarshal unchanged.
func TestJSONRoundTrip(t *testing.T) {
	r := newRand(2)
	for i := range 5000 {
		p := validPolicy(r)
		if i%2 == 0 {
			p = p.Normalize()
		}
		data, err := json.Marshal(p)
		if err != nil {
			t.Fatalf("#%d Marshal(%+v): %v", i, p, err)
		}
		var back policy.Policy
		if err := json.Unmarshal(data, &back); err != nil {
			t.Fatalf("#%d Unmarshal(%s): %v", i, data, err)
		}
		if back != p {
			t.Fatalf("#%d round trip through %s\n got %+v\nwant %+v", i, data, back, p)
		}
	}
}

func TestJitterText(t *testing.T) {
	for j, name := range map[policy.Jitter]string{
		policy.JitterFull: "full", policy.JitterEqual: "equal",
		policy.JitterDecorrelated: "decorrelated", policy.JitterNone: "none",
	} {
		if j.String() != name {
			t.Errorf("%d.String() = %q, want %q", j, j.String(), name)
		}
		text, err := j.MarshalText()
		if err != nil || string(text) != name {
			t.Errorf("%d.MarshalText() = %q, %v", j, text, err)
		}
		var back policy.Jitter = 7
		if err := back.UnmarshalText(text); err != nil || back != j {
			t.Errorf("UnmarshalText(%q) = %v, %v", text, back, err)
		}
	}
	var zero policy.Jitter
	if zero != policy.JitterFull {
		t.Error("zero Jitter is not JitterFull")
	}
	if s := policy.Jitter(9).String(); s != "Jitter(9)" {
		t.Errorf("String() = %q", s)
	}
	if _, err := policy.Jitter(9).MarshalText(); !errors.Is(err, policy.ErrInvalidPolicy) {
		t.Errorf("MarshalText of undefined: %v", err)
	}
	j := policy.JitterNone
	if err := j.UnmarshalText([]byte("FULL")); !errors.Is(err, policy.ErrInvalidPolicy) || j != policy.JitterNone {
		t.Errorf("UnmarshalText(FULL) = %v (j=%v), want an error and no change", err, j)
	}
	// As a map value in the caller's own JSON, via TextMarshaler.
	out, err := json.Marshal(map[string]policy.Jitter{"a": policy.JitterEqual})
	if err != nil || string(out) != `{"a":"equal"}` {
		t.Errorf("json.Marshal = %s, %v", out, err)
	}
}
