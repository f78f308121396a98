package breaker_test

import (
	"testing"
	"time"

	"github.com/regoresilience/rego/breaker"
	"github.com/regoresilience/rego/policy"
)

// BenchmarkClosedSuccess is a call's whole breaker cost on the success path:
// Allow, Record(success), Release, from all Ps on one key.
func BenchmarkClosedSuccess(b *testing.B) {
	clk := func() int64 { return time.Now().UnixNano() }
	br := breaker.New(policy.Breaker{FailureRate: 50}, clk)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			tk, _ := br.Allow()
			br.Record(&tk, false)
			br.Release(&tk)
		}
	})
}

// BenchmarkOpenRefusal is the cost of a refused call.
func BenchmarkOpenRefusal(b *testing.B) {
	clk := func() int64 { return time.Now().UnixNano() }
	br := breaker.New(policy.Breaker{FailureRate: 50, MinCalls: 1, OpenDuration: time.Hour}, clk)
	tk, _ := br.Allow()
	br.Record(&tk, true)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, ok := br.Allow(); ok {
				b.Fatal("allowed")
			}
		}
	})
}
