//go:build race

package engine

// raceEnabled: allocation counts are meaningless under -race (sync.Pool drops
// items on purpose, instrumentation allocates).
const raceEnabled = true
