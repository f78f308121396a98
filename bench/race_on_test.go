//go:build race

package bench

// raceEnabled: the race detector makes sync.Pool drop items and instruments
// memory accesses, so allocation counts mean nothing under it.
const raceEnabled = true
