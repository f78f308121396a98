package regohttp_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/regoresilience/rego"
	"github.com/regoresilience/rego/controlplane"
	"github.com/regoresilience/rego/engine"
	"github.com/regoresilience/rego/integrations/regohttp"
	"github.com/regoresilience/rego/policy"
)

// staticRT answers every request with an empty 200 without any I/O, so that
// the benchmarks measure only what the transport adds.
type staticRT struct{}

func (staticRT) RoundTrip(*http.Request) (*http.Response, error) {
	return &http.Response{StatusCode: 200, Body: io.NopCloser(strings.NewReader(""))}, nil
}

// BenchmarkRoundTrip compares a request sent by the base RoundTripper alone
// (the baseline) with one sent through the Transport (one attempt, no retry).
func BenchmarkRoundTrip(b *testing.B) {
	req, _ := http.NewRequest(http.MethodGet, "http://svc.test/", nil)
	run := func(b *testing.B, rt http.RoundTripper) {
		b.ReportAllocs()
		for b.Loop() {
			resp, err := rt.RoundTrip(req)
			if err != nil {
				b.Fatal(err)
			}
			resp.Body.Close()
		}
	}
	b.Run("base", func(b *testing.B) { run(b, staticRT{}) })
	b.Run("transport", func(b *testing.B) {
		exec, err := rego.NewExecutor(regohttp.WithHTTPClassifier(),
			engine.WithProvider(controlplane.NewStatic(map[string]policy.Policy{"*": fast(3)})))
		if err != nil {
			b.Fatal(err)
		}
		defer exec.Close()
		run(b, regohttp.NewTransport(exec, regohttp.WithBase(staticRT{})))
	})
}
