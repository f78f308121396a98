//go:build race

package keyworker

const raceEnabled = true
