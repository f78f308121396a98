// Package controlplane supplies the policies an engine applies, and keeps them
// current while the process runs.
//
// # Model
//
// A [Provider] publishes immutable [Snapshot] values. Each snapshot holds a
// validated [policy.Set] (nil means "no policies: use the engine default"), a
// Version, the [Source] it came from and a Digest of the document. Call sites read
// the snapshot in force with [Provider.Current]: one atomic pointer load, never a
// lock, never a wait, never nil. Everything slow — reading a file, talking to a
// control plane over HTTP, writing the on-disk cache, logging — happens on a
// goroutine owned by the provider (or in a caller of Reload), off every call's
// path.
//
// Three providers are built in:
//
//   - [NewStatic]: a fixed map of policies, validated once.
//   - [NewFile]: a JSON document on disk, validated at construction, then watched by
//     polling (modification time, size and content hash; no third-party watcher).
//   - [NewRemote]: a JSON document fetched over HTTP(S) with ETag / If-None-Match,
//     per-request timeouts, a size limit, refresh with jitter, exponential backoff
//     while the server fails, and an optional on-disk cache of the last good document.
//
// Providers written outside this package (integrations/regoetcd's watch on an
// etcd key, for one) build on [Publisher]: the transport stays theirs, and the
// Publisher applies the same size limit, validation, versioning, last-known-good
// rule, Status bookkeeping and cache file as NewFile and NewRemote, which are
// built on it too.
//
// The document format is the one [policy.ParseDocument] reads:
//
//	{"policies": {"svc.Op": {...}, "svc.*": {...}, "*": {...}}}
//
// # Last known good
//
// A new version replaces the one in force only if the whole document is valid.
// A document that fails to parse or validate — truncated by a writer still at work,
// garbage from a lying server, an edit with a typo — is rejected whole and the
// previous snapshot stays in force (the rule gRPC uses for service configs, A21).
// Failures never lose the last-known-good policy: they are reported through
// [Provider.Status] and the provider's *slog.Logger, and the next poll or refresh
// tries again.
//
// # Versions
//
// Snapshot versions strictly increase per provider. Version 0 is the placeholder a
// provider holds before any document was loaded (Source [SourceFallback], Set nil);
// each accepted document publishes Version+1, or the source's own revision of the
// document when the source has one and it is higher (etcd's mod revision, through
// [Publisher.Publish]), so operators see one number in both places. A document
// identical to the one in force (same digest, or an HTTP 304) is not a new version.
//
// # Ownership
//
// The snapshot pointer is written only by loads — the provider's background
// goroutine, a caller of Reload, or NewRemote installing its cache file — under
// a mutex that also guards the status bookkeeping and that call sites never
// touch; it is read by anyone, lock-free. Loads are serialised (at most one at a
// time per provider), so each provider's per-load state (last stat seen, ETag)
// needs no other lock. Close stops the background goroutine and waits for it.
package controlplane
