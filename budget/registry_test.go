package budget

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
)

// TestRegistry verifies Register, Lookup and Names, and each refusal.
func TestRegistry(t *testing.T) {
	r := NewRegistry()
	if b, ok := r.Lookup("shared"); ok || b != nil {
		t.Fatal("empty registry found a budget")
	}
	if r.Names() != nil {
		t.Fatal("empty registry has names")
	}
	shared := DefaultRetry(nil)
	if err := r.Register("shared", shared); err != nil {
		t.Fatal(err)
	}
	c, _ := NewConcurrency(ConcurrencyConfig{Max: 1})
	if err := r.Register("db-writes", c); err != nil {
		t.Fatal(err)
	}
	if b, ok := r.Lookup("shared"); !ok || b != shared {
		t.Fatalf("Lookup(shared) = %v, %v", b, ok)
	}
	if got := r.Names(); !slices.Equal(got, []string{"db-writes", "shared"}) {
		t.Fatalf("Names = %q", got)
	}

	var nilRatio *Ratio
	for _, tc := range []struct {
		name string
		b    Budget
		want error
		msg  string
	}{
		{"shared", DefaultHedge(nil), ErrDuplicate, `budget: register "shared": duplicate budget name`},
		{"", shared, ErrInvalidName, "budget: register: invalid budget name: empty name"},
		{"has space", shared, ErrInvalidName, "whitespace"},
		{"tab\t", shared, ErrInvalidName, "whitespace"},
		{"bell\a", shared, ErrInvalidName, "control"},
		{"nil", nil, ErrInvalidConfig, `budget: register "nil": invalid budget config: nil budget`},
		{"typed-nil", nilRatio, ErrInvalidConfig, "nil budget"},
	} {
		err := r.Register(tc.name, tc.b)
		if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("Register(%q, %v) = %v; want %v containing %q", tc.name, tc.b, err, tc.want, tc.msg)
		}
	}
	if got := r.Names(); len(got) != 2 {
		t.Fatalf("a refused Register changed the registry: %q", got)
	}

	var zero Registry // the zero value works
	if err := zero.Register("x", shared); err != nil {
		t.Fatal(err)
	}
	var nilReg *Registry
	if _, ok := nilReg.Lookup("x"); ok || nilReg.Names() != nil {
		t.Fatal("nil registry found something")
	}
	if err := nilReg.Register("x", shared); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("nil registry Register = %v", err)
	}
}

// TestRegistryConcurrent verifies, under -race, that concurrent Registers
// all land (none lost to a lost CAS) while Lookups run.
func TestRegistryConcurrent(t *testing.T) {
	r := NewRegistry()
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 50 {
				name := fmt.Sprintf("b%d-%d", g, i)
				if err := r.Register(name, DefaultRetry(nil)); err != nil {
					t.Error(err)
				}
				if _, ok := r.Lookup(name); !ok {
					t.Errorf("Lookup(%q) missed its own Register", name)
				}
			}
		})
	}
	wg.Wait()
	if n := len(r.Names()); n != 400 {
		t.Fatalf("%d names, want 400", n)
	}
	// Racing duplicates: exactly one wins.
	var wins sync.WaitGroup
	var errs [8]error
	for g := range 8 {
		wins.Go(func() { errs[g] = r.Register("contested", DefaultRetry(nil)) })
	}
	wins.Wait()
	ok := 0
	for _, err := range errs {
		if err == nil {
			ok++
		} else if !errors.Is(err, ErrDuplicate) {
			t.Error(err)
		}
	}
	if ok != 1 {
		t.Fatalf("%d Registers of one name succeeded, want 1", ok)
	}
}
