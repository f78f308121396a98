package stress

import (
	"flag"
	"testing"

	"go.uber.org/goleak"
)

var (
	// flagIterations is how many seeded scenarios each test runs. Raise it for a
	// longer soak: go test -race ./stress -stress.iterations=200.
	flagIterations = flag.Int("stress.iterations", 8, "seeded scenarios per stress test")
	// flagSeed, when non-zero, is the first seed; scenario i uses seed+i. Zero
	// runs the fixed default seeds, so a plain go test is reproducible.
	flagSeed = flag.Uint64("stress.seed", 0, "first scenario seed (0 = the fixed defaults)")
	// flagScale multiplies the number of calls per scenario.
	flagScale = flag.Float64("stress.scale", 1, "multiplier on the calls each scenario makes")
	// flagVerbose logs every scenario's summary (calls, attempts, outcomes).
	flagVerbose = flag.Bool("stress.v", false, "log a summary of every scenario")
)

// TestMain checks that no goroutine survives the package's tests: every
// scenario runs in a synctest bubble that must also end empty, so this is the
// outer net.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
