package policy_test

import (
	"testing"

	"github.com/regoresilience/rego/policy"
)

// The baseline for Resolve is the naive implementation: a map[string]Policy
// probed with the key's string form, concatenated on every lookup (the
// compiler avoids the allocation for short keys). See BENCHMARKS.md.

var (
	benchPolicies = map[string]policy.Policy{
		"users.GetUser": {Retry: policy.Retry{MaxAttempts: 4}},
		"users.*":       {},
		"*":             {},
	}
	benchKeys = map[string]policy.Key{
		"exact":     policy.ParseKey("users.GetUser"),
		"namespace": policy.ParseKey("users.ListUsers"),
		"global":    policy.ParseKey("billing.Charge"),
	}
	sinkPolicy policy.Policy
	sinkErr    error
)

// BenchmarkResolve compares Set.Resolve (impl=set) with the naive baseline
// (impl=stringmap) for a key matched by each kind of pattern. Compare with
//
//	go test -run XXX -bench Resolve -count 10 ./policy > out.txt
//	benchstat -col /impl out.txt
func BenchmarkResolve(b *testing.B) {
	s, err := policy.NewSet(benchPolicies)
	if err != nil {
		b.Fatal(err)
	}
	m := map[string]policy.Policy{}
	for pat, p := range benchPolicies {
		m[pat] = p.Normalize()
	}
	baseline := func(k policy.Key) policy.Policy {
		if p, ok := m[k.String()]; ok {
			return p
		}
		if p, ok := m[k.Namespace+".*"]; ok {
			return p
		}
		return m["*"]
	}
	for _, name := range []string{"exact", "namespace", "global"} {
		k := benchKeys[name]
		b.Run("impl=set/key="+name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				sinkPolicy, _, _ = s.Resolve(k)
			}
		})
		b.Run("impl=stringmap/key="+name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				sinkPolicy = baseline(k)
			}
		})
	}
}

func BenchmarkKeyValidate(b *testing.B) {
	k := policy.ParseKey("user-service.GetUserProfile")
	b.ReportAllocs()
	for b.Loop() {
		sinkErr = k.Validate()
	}
}

func BenchmarkParseDocument(b *testing.B) {
	data := []byte(goodDocument)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		_, sinkErr = policy.ParseDocument(data)
	}
}
