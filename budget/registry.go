package budget

import (
	"fmt"
	"maps"
	"reflect"
	"slices"
	"sync/atomic"
	"unicode"
)

// Registry holds named budgets shared by many keys: a policy's retry_budget
// or hedge_budget refers to one by name. Lookup is lock-free (one atomic
// load of an immutable map); Register copies the map and swaps it in, so
// registering is for setup, not for the hot path. A Registry is safe for
// concurrent use; its zero value is an empty registry.
type Registry struct {
	// m points to an immutable map; writers publish a modified copy by
	// compare-and-swap. nil means empty.
	m atomic.Pointer[map[string]Budget]
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{} }

// Register adds b under name. The name must be non-empty and free of
// whitespace and control characters ([ErrInvalidName]), b must not be nil
// ([ErrInvalidConfig]), and a name can be registered only once
// ([ErrDuplicate]): replacing a shared budget under live traffic would split
// its accounting.
func (r *Registry) Register(name string, b Budget) error {
	if err := checkName(name); err != nil {
		return err
	}
	if isNil(b) {
		return fmt.Errorf("budget: register %q: %w: nil budget", name, ErrInvalidConfig)
	}
	if r == nil {
		return fmt.Errorf("budget: register %q: %w: nil registry", name, ErrInvalidConfig)
	}
	for {
		old := r.m.Load()
		var cur map[string]Budget
		if old != nil {
			cur = *old
		}
		if _, dup := cur[name]; dup {
			return fmt.Errorf("budget: register %q: %w", name, ErrDuplicate)
		}
		next := make(map[string]Budget, len(cur)+1)
		maps.Copy(next, cur)
		next[name] = b
		if r.m.CompareAndSwap(old, &next) {
			return nil
		}
	}
}

// Lookup returns the budget registered under name. It is lock-free and
// allocation-free, and safe on a nil Registry.
func (r *Registry) Lookup(name string) (Budget, bool) {
	if r == nil {
		return nil, false
	}
	m := r.m.Load()
	if m == nil {
		return nil, false
	}
	b, ok := (*m)[name]
	return b, ok
}

// Names returns the registered names, sorted.
func (r *Registry) Names() []string {
	if r == nil {
		return nil
	}
	m := r.m.Load()
	if m == nil {
		return nil
	}
	return slices.Sorted(maps.Keys(*m))
}

func checkName(name string) error {
	if name == "" {
		return fmt.Errorf("budget: register: %w: empty name", ErrInvalidName)
	}
	for _, c := range name {
		if unicode.IsSpace(c) || !unicode.IsPrint(c) {
			return fmt.Errorf("budget: register %q: %w: whitespace or control character", name, ErrInvalidName)
		}
	}
	return nil
}

// isNil reports whether b is nil or a typed nil (a nil *Ratio in a Budget).
func isNil(b Budget) bool {
	if b == nil {
		return true
	}
	switch v := reflect.ValueOf(b); v.Kind() {
	case reflect.Pointer, reflect.Map, reflect.Func, reflect.Chan, reflect.Slice, reflect.Interface:
		return v.IsNil()
	}
	return false
}
