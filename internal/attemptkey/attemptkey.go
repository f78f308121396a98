// Package attemptkey holds the context key under which the engine stores the
// attempt an operation runs, so that observe.AttemptFromContext can read it.
// It is internal: users read the attempt with observe.AttemptFromContext
// (or rego.AttemptFromContext) and store one with observe.ContextWithAttempt.
package attemptkey

// Key is the context key of the running attempt. The value stored under it
// is a *observe.AttemptInfo (a pointer boxes into an interface without
// allocating, so an attempt context can embed the AttemptInfo and answer
// Value(Key{}) with a pointer to it), or a value whose AttemptInfo method
// computes it, which lets a context that already holds the parts (the key,
// its parent's deadline) stay smaller.
type Key struct{}
