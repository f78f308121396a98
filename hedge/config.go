package hedge

import (
	"errors"
	"fmt"
	"time"
)

// Defaults used by [NewTracker] for zero fields of [TrackerConfig].
const (
	DefaultWindow  = 10 * time.Second
	DefaultWindows = 3
	DefaultMin     = time.Microsecond
	DefaultMax     = time.Minute
	DefaultSigFigs = 2

	// MaxWindows bounds TrackerConfig.Windows: every window is a full
	// histogram and every Record touches each of them.
	MaxWindows = 16
	// MaxSigFigs bounds TrackerConfig.SigFigs: 3 figures already cost ~7x the
	// memory of 2 (about 136 KiB per histogram over 1µs..60s).
	MaxSigFigs = 3
	// MaxTrackable bounds TrackerConfig.Max.
	MaxTrackable = 24 * time.Hour
)

// ErrInvalidConfig is matched (errors.Is) by every error [NewTracker] returns.
var ErrInvalidConfig = errors.New("hedge: invalid config")

// TrackerConfig sizes a [Tracker]. The zero value is the default
// configuration: 3 windows of 10s, 1µs..60s, 2 significant figures.
type TrackerConfig struct {
	// Window is the length of one window (default 10s). Rotation happens on
	// window boundaries counted from the now given to NewTracker.
	Window time.Duration
	// Windows is how many windows a quantile covers (default 3, at most
	// MaxWindows). A sample stays visible for between (Windows-1)×Window and
	// Windows×Window after it was recorded.
	Windows int
	// Min and Max are the tracked range (default 1µs .. 60s). Samples outside
	// it are clamped into it, so a quantile never leaves it either. Values are
	// stored in whole microseconds, so Min must be at least 1µs. Min is also
	// the histogram's resolution: a quantile is accurate to the larger of Min
	// and 10^-SigFigs of its value (under 1% with the default 2 figures).
	// Raising Min or lowering Max is the cheapest way to shrink a Tracker:
	// each halving of the range removes 1 KiB per window at 2 figures.
	Min, Max time.Duration
	// SigFigs is the number of significant decimal figures kept (default 2,
	// 1..MaxSigFigs).
	SigFigs int
}

// withDefaults returns c with zero fields replaced by the defaults, or an
// error naming the first field that cannot be used.
func (c TrackerConfig) withDefaults() (TrackerConfig, error) {
	if c.Window == 0 {
		c.Window = DefaultWindow
	}
	if c.Windows == 0 {
		c.Windows = DefaultWindows
	}
	if c.Min == 0 {
		c.Min = DefaultMin
	}
	if c.Max == 0 {
		c.Max = DefaultMax
	}
	if c.SigFigs == 0 {
		c.SigFigs = DefaultSigFigs
	}
	switch {
	case c.Window < 0:
		return c, fmt.Errorf("%w: window %v must be > 0", ErrInvalidConfig, c.Window)
	case c.Windows < 1 || c.Windows > MaxWindows:
		return c, fmt.Errorf("%w: windows %d must be in [1, %d]", ErrInvalidConfig, c.Windows, MaxWindows)
	case c.Min < time.Microsecond:
		return c, fmt.Errorf("%w: min %v must be >= 1µs", ErrInvalidConfig, c.Min)
	case c.Max > MaxTrackable:
		return c, fmt.Errorf("%w: max %v must be <= %v", ErrInvalidConfig, c.Max, MaxTrackable)
	case c.Max/time.Microsecond <= c.Min/time.Microsecond:
		return c, fmt.Errorf("%w: max %v must be > min %v (in whole µs)", ErrInvalidConfig, c.Max, c.Min)
	case c.SigFigs < 1 || c.SigFigs > MaxSigFigs:
		return c, fmt.Errorf("%w: sig figs %d must be in [1, %d]", ErrInvalidConfig, c.SigFigs, MaxSigFigs)
	}
	return c, nil
}
