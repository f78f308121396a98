// Package regoetcd serves rego policies from etcd: a controlplane.Provider
// that watches one key holding a whole policy document, for fleets that
// already run etcd for configuration.
//
// One key holds one document (the JSON of a policy file), so an update
// replaces the whole set atomically, which the last-known-good rule needs:
// validation, versioning, Status and the cache file are those of
// controlplane.Publisher, the machinery of the built-in file and remote
// providers. See NewProvider for the faults it rides out, and the regoetcd
// command (cmd/regoetcd) for pushing validated documents with a
// compare-and-swap, reading the history and rolling back.
//
// Each provider owns two goroutines, started by NewProvider and ended by
// Close: one reads and watches its key, one follows the client's connection
// state. The etcd client stays the caller's: one client can serve several
// providers (one per key) and other uses.
package regoetcd
