package budget

import (
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// testBase is where every fake clock starts.
var testBase = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

// fakeClock is a manual clock safe for concurrent use: its Now is a [Clock].
type fakeClock struct{ ns atomic.Int64 } // offset from testBase

func (c *fakeClock) Now() time.Time          { return testBase.Add(time.Duration(c.ns.Load())) }
func (c *fakeClock) Advance(d time.Duration) { c.ns.Add(int64(d)) }
func (c *fakeClock) Set(d time.Duration)     { c.ns.Store(int64(d)) }
func (c *fakeClock) Offset() time.Duration   { return time.Duration(c.ns.Load()) }
