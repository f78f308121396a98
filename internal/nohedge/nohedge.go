// Package nohedge marks calls that must not be hedged. Integrations whose
// requests cannot safely be sent twice (regohttp's non-idempotent requests)
// mark the call's context; the engine checks the mark before it asks the
// hedge budget for a permit, so such a call launches no hedge and spends no
// permit, whatever its policy says.
package nohedge

import "context"

type key struct{}

// With returns a copy of ctx whose calls run no hedges.
func With(ctx context.Context) context.Context { return context.WithValue(ctx, key{}, true) }

// Is reports whether ctx was marked by With.
func Is(ctx context.Context) bool {
	v, _ := ctx.Value(key{}).(bool)
	return v
}
