//go:build !race

package regoetcd

const raceEnabled = false
