package controlplane

import (
	"errors"
	"testing"
	"time"

	"github.com/regoresilience/rego/policy"
)

// TestStaticValid verifies that a valid map is served as version 1, normalized,
// with a digest that does not depend on map order.
func TestStaticValid(t *testing.T) {
	m := map[string]policy.Policy{
		"svc.*": {Retry: policy.Retry{MaxAttempts: 4}},
		"*":     {Timeout: 2 * time.Second},
	}
	p := NewStatic(m)
	closeProvider(t, p)
	s := inForce(t, p, 4, 1, SourceStatic)
	if s.Digest == "" {
		t.Error("empty digest")
	}
	if got, _, _ := s.Set.Resolve(svcOp); got.Retry.InitialBackoff != policy.Default().Retry.InitialBackoff {
		t.Errorf("policy not normalized: %+v", got.Retry)
	}
	m["svc.*"] = policy.Policy{Retry: policy.Retry{MaxAttempts: 9}}
	if attemptsOf(t, p.Current()) != 4 {
		t.Error("changing the caller's map changed the provider")
	}
	st := statusWithin(t, p)
	if st.LastError != nil || st.Source != SourceStatic || st.Version != 1 || st.LastSuccess.IsZero() || st.Digest != s.Digest {
		t.Errorf("Status = %+v", st)
	}
	if again := NewStatic(map[string]policy.Policy{"*": {Timeout: 2 * time.Second}, "svc.*": {Retry: policy.Retry{MaxAttempts: 4}}}); again.Current().Digest != s.Digest {
		t.Error("digest depends on map order")
	}
}

// TestStaticEmpty verifies that a nil map is a valid, empty set of policies.
func TestStaticEmpty(t *testing.T) {
	p := NewStatic(nil)
	closeProvider(t, p)
	s := inForce(t, p, 0, 1, SourceStatic)
	if s.Set.Len() != 0 {
		t.Errorf("Len = %d", s.Set.Len())
	}
}

// TestStaticInvalid verifies that invalid policies give the fallback snapshot
// and an error naming the pattern and the field, never a panic.
func TestStaticInvalid(t *testing.T) {
	p := NewStatic(map[string]policy.Policy{
		"svc.Op": {Retry: policy.Retry{MaxAttempts: -1}},
	})
	closeProvider(t, p)
	inForce(t, p, 0, 0, SourceFallback)
	st := p.Status()
	le := wantLoadError(t, st.LastError, "static", "svc.Op", "retry.max_attempts")
	if le.Origin != "static" || !errors.Is(st.LastError, policy.ErrInvalidPolicy) {
		t.Errorf("LastError = %v", st.LastError)
	}
	if st.Source != SourceFallback || st.LastErrorAt.IsZero() || !st.LastSuccess.IsZero() || st.ConsecutiveFailures != 1 {
		t.Errorf("Status = %+v", st)
	}

	bad := NewStatic(map[string]policy.Policy{"bad pattern/x": {}})
	inForce(t, bad, 0, 0, SourceFallback)
	if !errors.Is(bad.Status().LastError, policy.ErrInvalidPolicy) {
		t.Errorf("LastError = %v", bad.Status().LastError)
	}
}
