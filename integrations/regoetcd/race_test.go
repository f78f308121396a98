//go:build race

package regoetcd

// raceEnabled: the race detector slows everything ~5-10x; the propagation
// test makes fewer pushes under it.
const raceEnabled = true
