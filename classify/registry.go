package classify

import (
	"errors"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"unicode"
	"unicode/utf8"
)

var (
	// ErrDuplicate is returned by [Registry.Register] for a name that is
	// already registered.
	ErrDuplicate = errors.New("classify: classifier already registered")
	// ErrInvalidName is returned by [Registry.Register] for an empty name, a
	// name longer than [MaxNameLen] bytes, or one with spaces, control
	// characters or invalid UTF-8.
	ErrInvalidName = errors.New("classify: invalid classifier name")
	// ErrNilClassifier is returned by [Registry.Register] for a nil
	// classifier (or a nil Func).
	ErrNilClassifier = errors.New("classify: nil classifier")
	// ErrNilRegistry is returned by Register on a nil *Registry.
	ErrNilRegistry = errors.New("classify: nil registry")
)

// MaxNameLen is the longest classifier name [Registry.Register] accepts.
const MaxNameLen = 128

// Registry maps names to classifiers so that a policy can select one with
// "classifier": "name".
//
// Lookups are lock-free: the table is an immutable map behind an
// atomic.Pointer; Register (rare, at start-up) copies it under a mutex and
// publishes the copy. The zero value is an empty registry ready to use.
type Registry struct {
	mu sync.Mutex                            // serializes writers; readers never take it
	m  atomic.Pointer[map[string]Classifier] // immutable once published; nil = empty
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{} }

// Register adds c under name. It returns an error wrapping [ErrInvalidName],
// [ErrNilClassifier], [ErrDuplicate] or [ErrNilRegistry]; names are never replaced, so a
// classifier that is in use cannot change under a running call.
func (r *Registry) Register(name string, c Classifier) error {
	if r == nil {
		return fmt.Errorf("%w: cannot register %q", ErrNilRegistry, name)
	}
	if err := validName(name); err != nil {
		return err
	}
	if c == nil {
		return fmt.Errorf("%w (name %q)", ErrNilClassifier, name)
	}
	if f, ok := c.(Func); ok && f == nil {
		return fmt.Errorf("%w: nil Func (name %q)", ErrNilClassifier, name)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	old := r.m.Load()
	var next map[string]Classifier
	if old == nil {
		next = make(map[string]Classifier, 1)
	} else {
		if _, dup := (*old)[name]; dup {
			return fmt.Errorf("%w: %q", ErrDuplicate, name)
		}
		next = make(map[string]Classifier, len(*old)+1)
		for k, v := range *old {
			next[k] = v
		}
	}
	next[name] = c
	r.m.Store(&next)
	return nil
}

// Lookup returns the classifier registered under name. The empty name is the
// policy's "use the default" and always yields ([Default], true). Lookup is
// safe on a nil *Registry (only "" is found) and never blocks.
func (r *Registry) Lookup(name string) (Classifier, bool) {
	if name == "" {
		return Default, true
	}
	if r == nil {
		return nil, false
	}
	p := r.m.Load()
	if p == nil {
		return nil, false
	}
	c, ok := (*p)[name]
	return c, ok
}

// Names returns the registered names, sorted. The implicit "" is not listed.
func (r *Registry) Names() []string {
	if r == nil {
		return nil
	}
	p := r.m.Load()
	if p == nil {
		return nil
	}
	names := make([]string, 0, len(*p))
	for k := range *p {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}

func validName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("%w: empty", ErrInvalidName)
	case len(name) > MaxNameLen:
		return fmt.Errorf("%w: longer than %d bytes", ErrInvalidName, MaxNameLen)
	case !utf8.ValidString(name):
		return fmt.Errorf("%w: %q is not valid UTF-8", ErrInvalidName, name)
	}
	for _, r := range name {
		if unicode.IsSpace(r) || !unicode.IsGraphic(r) {
			return fmt.Errorf("%w: %q contains a space or control character", ErrInvalidName, name)
		}
	}
	return nil
}
