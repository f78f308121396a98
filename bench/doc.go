// Package bench compares rego with peer Go resilience libraries in a single
// `go test -bench` run, so that the ratios between them mean something even on
// a small, noisy machine.
//
// It is a module of its own (github.com/regoresilience/rego/bench) so that the
// peers it measures, failsafe-go, retry-go, cenkalti/backoff and
// sethvargo/go-retry, never enter rego's own go.mod. It has no code besides its
// tests; see BENCHMARKS.md at the repository root for the command, the machine
// and the numbers.
//
// Every benchmark is a table of implementations doing the same work, named
// Benchmark<Case>/impl=<name> so that benchstat can pivot on the
// implementation:
//
//	go test -run '^$' -bench . -benchmem -count 10 > bench.txt
//	benchstat bench.txt                                      # one row per benchmark
//	benchstat -col '/impl@(failsafe rego)' -row .name bench.txt  # rego relative to failsafe-go
//
// Each table includes a plain direct call ("direct") as the floor. Besides
// ns/op, B/op and allocs/op, each benchmark reports goroutines/op: goroutines
// created per call, read from runtime/metrics.
package bench
