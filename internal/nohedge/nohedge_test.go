package nohedge_test

import (
	"context"
	"testing"

	"github.com/regoresilience/rego/internal/nohedge"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestMark verifies that the mark is seen through derived contexts and only
// where it was set.
func TestMark(t *testing.T) {
	ctx := context.Background()
	if nohedge.Is(ctx) {
		t.Error("an unmarked context is marked")
	}
	marked, cancel := context.WithCancel(nohedge.With(ctx))
	defer cancel()
	if !nohedge.Is(marked) {
		t.Error("the mark is lost in a derived context")
	}
}
