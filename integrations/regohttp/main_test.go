package regohttp_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain checks that no test leaves a goroutine behind: executors are closed,
// test servers closed and idle client connections dropped by each test.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
