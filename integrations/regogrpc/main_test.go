package regogrpc_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain checks that no test leaves a goroutine behind: servers stopped,
// connections and executors closed, streams finished.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
