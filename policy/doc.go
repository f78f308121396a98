// Package policy defines what rego does for each kind of call: the Key that
// names an operation, the Policy that says how to retry, hedge and bound it,
// and the Set that maps keys to policies.
//
// # Model
//
// A Key is {Namespace, Name}, written "ns.Name" ("db.Users.Query" is
// namespace "db", name "Users.Query"). Everything rego keeps per key (its
// budgets and, for latency-aware hedging, a latency histogram and a worker
// goroutine) is shared by every call with that key, so keys must be few:
// name operations, never requests. Key.Validate rejects keys that look like
// they embed IDs, paths or free text (ErrHighCardinalityKey).
//
// A Policy is a plain value whose zero fields mean "default" or "off": its
// Retry, Hedge and Breaker (a per-key circuit breaker) sections, its Timeout
// and the names of its classifier and budgets.
// Policy.Validate reports mistakes; Policy.Normalize fills in defaults and
// clamps values into safe ranges (MaxAttemptsLimit, MaxHedgesLimit,
// AttemptTimeout within Timeout). The engine only ever runs normalized
// policies.
//
// A Set maps patterns to policies: "ns.Name" (exact), "ns.Prefix.*" (the
// names under a dotted prefix, such as the methods of one gRPC service:
// "pkg.v1.UserService.*"), "ns.*" (a namespace) and "*" (everything).
// Set.Resolve picks the most specific match in that order (the longest
// prefix first); when nothing matches it reports ok=false and the engine uses its own
// default policy.
//
// Policies usually come from a JSON document (ParseDocument,
// MarshalDocument), read by the control plane from a file or a server:
//
//	{"policies": {
//	  "users.GetUser": {"retry": {"max_attempts": 4, "attempt_timeout": "300ms"}, "timeout": "1s"},
//	  "users.*":       {"hedge": {"max_hedges": 1, "delay": "50ms", "percentile": 95}},
//	  "*":             {"retry": {"max_attempts": 2}}
//	}}
//
// Decoding is strict at every depth (unknown fields, wrong types, explicit
// zeros that would silently mean "default" are errors) and every error
// names the pattern and field it is about.
//
// # Ownership and concurrency
//
// This package owns no goroutines and no mutable shared state. Key, Policy,
// Retry, Hedge and Jitter are values. A *Set is immutable after NewSet or
// ParseDocument returns, so any number of goroutines may call Resolve
// concurrently; the control plane publishes a new Set (behind an atomic
// pointer it owns) to change policies. Resolve does not allocate, though the
// engine calls it only when a policy source changes, not per call.
//
// This package imports only the standard library; every other rego package
// may import it.
package policy
