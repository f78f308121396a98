package classify_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/regoresilience/rego/classify"
)

var abortAll = classify.Func(func(context.Context, error) classify.Verdict {
	return classify.Verdict{Outcome: classify.Abort, Reason: "nope"}
})

func TestRegistryRegisterLookup(t *testing.T) {
	r := classify.NewRegistry()
	if c, ok := r.Lookup(""); !ok || c != classify.Default {
		t.Errorf("Lookup(\"\") = %v, %v; want Default", c, ok)
	}
	if _, ok := r.Lookup("http"); ok {
		t.Error("empty registry found http")
	}
	if err := r.Register("http", abortAll); err != nil {
		t.Fatal(err)
	}
	if err := r.Register("grpc", classify.Default); err != nil {
		t.Fatal(err)
	}
	c, ok := r.Lookup("http")
	if !ok || c.Classify(context.Background(), nil).Reason != "nope" {
		t.Errorf("Lookup(http) = %v, %v", c, ok)
	}
	if err := r.Register("http", classify.Default); !errors.Is(err, classify.ErrDuplicate) {
		t.Errorf("duplicate: %v, want ErrDuplicate", err)
	}
	if got := r.Names(); !slices.Equal(got, []string{"grpc", "http"}) {
		t.Errorf("Names = %v", got)
	}
}

func TestRegistryRejects(t *testing.T) {
	r := classify.NewRegistry()
	for _, tc := range []struct {
		name string
		c    classify.Classifier
		want error
	}{
		{"", classify.Default, classify.ErrInvalidName},
		{"has space", classify.Default, classify.ErrInvalidName},
		{"ctl\x01", classify.Default, classify.ErrInvalidName},
		{"bad\xffutf8", classify.Default, classify.ErrInvalidName},
		{strings.Repeat("x", classify.MaxNameLen+1), classify.Default, classify.ErrInvalidName},
		{"nil", nil, classify.ErrNilClassifier},
		{"nilfunc", classify.Func(nil), classify.ErrNilClassifier},
	} {
		if err := r.Register(tc.name, tc.c); !errors.Is(err, tc.want) {
			t.Errorf("Register(%q) = %v, want %v", tc.name, err, tc.want)
		}
	}
	if n := r.Names(); len(n) != 0 {
		t.Errorf("rejected names were stored: %v", n)
	}
	if err := r.Register(strings.Repeat("x", classify.MaxNameLen), classify.Default); err != nil {
		t.Errorf("name of MaxNameLen: %v", err)
	}
}

// TestRegistryNilAndZero verifies that a nil *Registry answers lookups
// without panicking and that the zero value works.
func TestRegistryNilAndZero(t *testing.T) {
	var nr *classify.Registry
	if _, ok := nr.Lookup("x"); ok {
		t.Error("nil registry found x")
	}
	if c, ok := nr.Lookup(""); !ok || c != classify.Default {
		t.Error("nil registry: \"\" should be Default")
	}
	if nr.Names() != nil {
		t.Error("nil registry names")
	}
	if err := nr.Register("x", classify.Default); !errors.Is(err, classify.ErrNilRegistry) {
		t.Errorf("nil registry Register = %v", err)
	}
	var zr classify.Registry
	if zr.Names() != nil {
		t.Error("zero registry names")
	}
	if err := zr.Register("x", classify.Default); err != nil {
		t.Fatal(err)
	}
	if _, ok := zr.Lookup("x"); !ok {
		t.Error("zero registry lost x")
	}
}

// TestRegistryConcurrent verifies under -race that lookups run concurrently
// with registrations and see every name once it is registered.
func TestRegistryConcurrent(t *testing.T) {
	r := classify.NewRegistry()
	const n = 200
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := range n {
				name := fmt.Sprintf("c%d-%d", w, i)
				if err := r.Register(name, classify.Default); err != nil {
					t.Error(err)
					return
				}
				if _, ok := r.Lookup(name); !ok {
					t.Errorf("%s not visible after Register", name)
				}
			}
		})
		wg.Go(func() {
			for i := range n {
				r.Lookup(fmt.Sprintf("c%d-%d", w, i))
				_ = r.Names()
			}
		})
	}
	wg.Wait()
	if got := len(r.Names()); got != 4*n {
		t.Errorf("%d names, want %d", got, 4*n)
	}
}

func TestRegistryLookupDoesNotAllocate(t *testing.T) {
	r := classify.NewRegistry()
	_ = r.Register("http", classify.Default)
	if n := testing.AllocsPerRun(100, func() { r.Lookup("http"); r.Lookup("") }); n != 0 {
		t.Errorf("%v allocs per Lookup", n)
	}
}
