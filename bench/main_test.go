package bench

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain checks that no goroutine outlives the tests and benchmarks. Every
// executor is created by the benchmark or test that uses it and Closed in its
// Cleanup, which runs before the leak check.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
