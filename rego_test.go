package rego_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/regoresilience/rego"
	"github.com/regoresilience/rego/engine"
	"github.com/regoresilience/rego/policy"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.Cleanup(func(int) {
		// The package-level default executor owns a timer goroutine.
		if e := rego.SetDefault(nil); e != nil {
			e.Close()
		}
	}))
}

// TestDefaultIsLazyAndSwappable verifies Default creates one executor and
// SetDefault swaps it.
func TestDefaultIsLazyAndSwappable(t *testing.T) {
	d := rego.Default()
	if d != rego.Default() {
		t.Fatal("Default returned two executors")
	}
	mine := rego.NewDefaultExecutor()
	if prev := rego.SetDefault(mine); prev != d {
		t.Fatal("SetDefault did not return the previous executor")
	}
	if rego.Default() != mine {
		t.Fatal("Default is not the one set")
	}
	d.Close()
}

// TestFacade verifies the package-level functions run on the default executor.
func TestFacade(t *testing.T) {
	ctx := context.Background()
	key := rego.ParseKey("svc.Op")
	if err := rego.Do(ctx, key, func(context.Context) error { return nil }); err != nil {
		t.Fatal(err)
	}
	v, tl, err := rego.DoValueWithTimeline(ctx, key, func(ctx context.Context) (string, error) {
		info, ok := rego.AttemptFromContext(ctx)
		if !ok || info.Index != 0 {
			t.Errorf("AttemptFromContext = %+v, %v", info, ok)
		}
		return "v", nil
	})
	if v != "v" || err != nil || len(tl.Attempts) != 1 {
		t.Fatalf("v=%q err=%v", v, err)
	}
	sentinel := errors.New("bad request")
	err = rego.Do(ctx, key, func(context.Context) error { return rego.Permanent(sentinel) })
	var re *engine.Error
	if !errors.Is(err, sentinel) || !errors.As(err, &re) || re.Attempts != 1 {
		t.Fatalf("Permanent: %v", err)
	}
	if _, err := rego.NewExecutor(engine.WithObserver(nil)); !errors.Is(err, engine.ErrInvalidOption) {
		t.Fatalf("NewExecutor with a bad option: %v", err)
	}
}

// TestInvalidKeyFailsFast verifies the facade refuses a key that fails
// Key.Validate with ErrInvalidKey, before running op, on every entry point.
func TestInvalidKeyFailsFast(t *testing.T) {
	ctx := context.Background()
	for _, s := range []string{"users.GetUser/42", "", "GetUser"} {
		key := rego.ParseKey(s)
		op := func(context.Context) error { t.Errorf("op ran for key %q", s); return nil }
		if err := rego.Do(ctx, key, op); !errors.Is(err, rego.ErrInvalidKey) {
			t.Errorf("Do(%q) = %v, want ErrInvalidKey", s, err)
		}
		if _, err := rego.DoWithTimeline(ctx, key, op); !errors.Is(err, rego.ErrInvalidKey) {
			t.Errorf("DoWithTimeline(%q) = %v, want ErrInvalidKey", s, err)
		}
		v, err := rego.DoValue(ctx, key, func(context.Context) (int, error) { t.Errorf("op ran for key %q", s); return 1, nil })
		if v != 0 || !errors.Is(err, rego.ErrInvalidKey) {
			t.Errorf("DoValue(%q) = %v, %v, want ErrInvalidKey", s, v, err)
		}
	}
}

// TestBreakerOpenFacade verifies a call refused by its key's breaker matches
// the facade's ErrBreakerOpen without running op.
func TestBreakerOpenFacade(t *testing.T) {
	e, err := rego.NewExecutor(engine.WithDefaultPolicy(policy.Policy{Retry: policy.Retry{MaxAttempts: 1},
		Breaker: policy.Breaker{FailureRate: 50, MinCalls: 2, Window: time.Minute, OpenDuration: time.Hour}}))
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	ctx, key := context.Background(), rego.ParseKey("svc.Flaky")
	for range 2 {
		e.Do(ctx, key, func(context.Context) error { return errors.New("unavailable") })
	}
	err = e.Do(ctx, key, func(context.Context) error { t.Error("op ran on an open breaker"); return nil })
	if !errors.Is(err, rego.ErrBreakerOpen) {
		t.Fatalf("err = %v, want ErrBreakerOpen", err)
	}
}
