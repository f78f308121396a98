package policy_test

import (
	"encoding/json"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/regoresilience/rego/policy"
)

// TestBreakerJSON verifies the breaker's JSON names, its defaults after
// Normalize and that it survives a round trip.
func TestBreakerJSON(t *testing.T) {
	var p policy.Policy
	in := `{"breaker":{"failure_rate":50,"min_calls":10,"window":"30s","open_duration":"5s","half_open_probes":2}}`
	if err := json.Unmarshal([]byte(in), &p); err != nil {
		t.Fatal(err)
	}
	want := policy.Breaker{FailureRate: 50, MinCalls: 10, Window: 30 * time.Second, OpenDuration: 5 * time.Second, HalfOpenProbes: 2}
	if p.Breaker != want {
		t.Fatalf("decoded %+v, want %+v", p.Breaker, want)
	}
	out, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	if string(out) != in {
		t.Errorf("Marshal = %s, want %s", out, in)
	}

	if err := json.Unmarshal([]byte(`{"breaker":{"failure_rate":25}}`), &p); err != nil {
		t.Fatal(err)
	}
	got := p.Normalize().Breaker
	want = policy.Breaker{FailureRate: 25, MinCalls: 20, Window: 10 * time.Second, OpenDuration: 10 * time.Second, HalfOpenProbes: 3}
	if got != want || !got.Enabled() {
		t.Errorf("normalized %+v, want %+v", got, want)
	}
	if (policy.Policy{}).Normalize().Breaker.Enabled() {
		t.Error("the zero policy has a breaker")
	}
}

// TestBreakerErrors verifies every breaker validation message.
func TestBreakerErrors(t *testing.T) {
	tests := []struct {
		name, in string
		want     []string
	}{
		{"explicit zeros", `{"breaker":{"failure_rate":0,"min_calls":0,"window":"0s","open_duration":"0s","half_open_probes":0}}`,
			[]string{
				`breaker.failure_rate: must be > 0 (omit "breaker" to turn it off)`,
				`breaker.min_calls: must be >= 1`,
				`breaker.window: must be > 0`,
				`breaker.open_duration: must be > 0`,
				`breaker.half_open_probes: must be >= 1`,
			}},
		{"rate out of range", `{"breaker":{"failure_rate":101}}`, []string{`breaker.failure_rate: must be > 0 and <= 100`}},
		{"negative rate", `{"breaker":{"failure_rate":-1}}`, []string{`breaker.failure_rate: must be > 0 and <= 100`}},
		{"rate missing", `{"breaker":{"min_calls":5}}`,
			[]string{`breaker.failure_rate: must be set when other breaker fields are (omit "breaker" to turn it off)`}},
		{"limits", `{"breaker":{"failure_rate":50,"min_calls":1000001,"window":"5ms","open_duration":"25h","half_open_probes":1001}}`,
			[]string{
				`breaker.min_calls: must be <= 1000000`,
				`breaker.window: must be >= 10ms`,
				`breaker.open_duration: must be <= 24h`,
				`breaker.half_open_probes: must be <= 1000`,
			}},
		{"negatives", `{"breaker":{"failure_rate":50,"min_calls":-1,"window":"-1s","half_open_probes":-2}}`,
			[]string{
				`breaker.window: must not be negative (got "-1s")`, // decoding problems come first
				`breaker.min_calls: must be >= 1`,
				`breaker.half_open_probes: must be >= 1`,
			}},
		{"typo", `{"breaker":{"failure_ratio":50}}`,
			[]string{`breaker: unknown field "failure_ratio" (did you mean "failure_rate"?)`}},
		{"not an object", `{"breaker":true}`, []string{`breaker: must be a JSON object, not a boolean`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var p policy.Policy
			err := json.Unmarshal([]byte(tt.in), &p)
			if got := fieldErrors(err); !slices.Equal(got, tt.want) {
				t.Fatalf("Unmarshal(%s)\n got %q\nwant %q", tt.in, got, tt.want)
			}
		})
	}
	for _, fr := range []float64{math.NaN(), math.Inf(1)} {
		err := policy.Policy{Breaker: policy.Breaker{FailureRate: fr}}.Validate()
		if got := fieldErrors(err); !slices.Equal(got, []string{"breaker.failure_rate: must be a finite number"}) {
			t.Errorf("FailureRate %v: %q", fr, got)
		}
	}
}

// TestOnePass verifies that a document's decoding problems and its
// validation problems are reported together, each once.
func TestOnePass(t *testing.T) {
	doc := `{"policies": {
	  "users.*": {"retry": {"max_attempts": -1, "jitter": "bogus"}, "hedge": {"max_hedges": 2, "delay": "soon"}},
	  "a.B": {"retyr": {}, "timeout": "-1s", "breaker": {"failure_rate": 150}}
	}}`
	_, err := policy.ParseDocument([]byte(doc))
	want := []string{
		`policies["users.*"].retry.jitter: unknown mode "bogus" (want "full", "equal", "decorrelated" or "none")`,
		`policies["users.*"].hedge.delay: "soon" is not a Go duration such as "250ms" or "1.5s"`,
		`policies["users.*"].retry.max_attempts: must be >= 1`,
		`policies["a.B"]: unknown field "retyr" (did you mean "retry"?)`,
		`policies["a.B"].timeout: must not be negative (got "-1s")`,
		`policies["a.B"].breaker.failure_rate: must be > 0 and <= 100`,
	}
	if got := fieldErrors(err); !slices.Equal(got, want) {
		t.Fatalf("got\n%q\nwant\n%q", got, want)
	}
}

// TestCheckDocument verifies that CheckDocument reports more than
// ParseDocument's 20 problems and lists the values Normalize adjusts.
func TestCheckDocument(t *testing.T) {
	doc := `{"policies": {
	  "x.Y": {"retry": {"max_attempts": 50, "initial_backoff": "2s", "max_backoff": "1s", "attempt_timeout": "5s"}, "timeout": "1s",
	          "hedge": {"max_hedges": 20, "delay": "10ms", "min_delay": "50ms", "max_delay": "20ms"}},
	  "x.*": {"hedge": {"delay": "10ms"}}
	}}`
	set, warns, err := policy.CheckDocument([]byte(doc))
	if err != nil || set.Len() != 2 {
		t.Fatalf("CheckDocument: %v, %v", set, err)
	}
	var got []string
	for _, w := range warns {
		got = append(got, w.String())
	}
	want := []string{
		`policies["x.*"].hedge: has no effect: max_hedges is 0 (no hedging)`,
		`policies["x.Y"].retry.max_attempts: 50 is capped to 10 (each extra attempt multiplies the load on a failing backend)`,
		`policies["x.Y"].retry.max_backoff: 1s is raised to initial_backoff 2s`,
		`policies["x.Y"].retry.attempt_timeout: 5s is lowered to timeout 1s (an attempt cannot outlive its call)`,
		`policies["x.Y"].hedge.max_hedges: 20 is capped to 5 (each hedge adds load to every slow call)`,
		`policies["x.Y"].hedge.max_delay: 20ms is raised to min_delay 50ms`,
	}
	if !slices.Equal(got, want) {
		t.Fatalf("warnings\n%q\nwant\n%q", got, want)
	}

	// 25 bad policies: ParseDocument stops at 20, CheckDocument reports all.
	bad := `{"policies": {`
	for i := range 25 {
		if i > 0 {
			bad += ","
		}
		bad += `"ns.Op` + string(rune('A'+i)) + `": {"timeout": "-1s"}`
	}
	bad += `}}`
	_, err = policy.ParseDocument([]byte(bad))
	if n := len(fieldErrors(err)); n != 21 { // 20 and "and 5 more problems"
		t.Errorf("ParseDocument: %d lines, want 21", n)
	}
	valid, _, err := policy.CheckDocument([]byte(bad))
	if n := len(fieldErrors(err)); n != 25 {
		t.Errorf("CheckDocument: %d lines, want 25", n)
	}
	if valid.Len() != 0 {
		t.Errorf("CheckDocument: %d valid policies, want none", valid.Len())
	}
	// The valid policies of an invalid document are still described.
	valid, warns, err = policy.CheckDocument([]byte(`{"policies": {"a.B": {"timeout": "-1s"}, "a.C": {"retry": {"max_attempts": 11}}}}`))
	if err == nil || valid.Len() != 1 || len(warns) != 1 || warns[0].Path != `policies["a.C"].retry.max_attempts` {
		t.Errorf("CheckDocument: %v, %v, %v", valid.Patterns(), warns, err)
	}
	if !allMatch(err, policy.ErrInvalidPolicy) {
		t.Error("not every problem matches ErrInvalidPolicy")
	}
}
