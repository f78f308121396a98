package budget

import (
	"errors"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

func mustAdaptive(t testing.TB, c AdaptiveConfig) *Adaptive {
	t.Helper()
	a, err := NewAdaptive(c)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// TestNewAdaptiveConfig verifies the defaults for zero fields and the checks
// on the others.
func TestNewAdaptiveConfig(t *testing.T) {
	for _, tc := range []struct {
		c     AdaptiveConfig
		field string
		msg   string
	}{
		{AdaptiveConfig{K: 0.5}, "K", "must be >= 1, got 0.5"},
		{AdaptiveConfig{K: -2}, "K", "must be >= 1"},
		{AdaptiveConfig{K: math.NaN()}, "K", "finite"},
		{AdaptiveConfig{K: math.Inf(1)}, "K", "finite"},
		{AdaptiveConfig{Window: -time.Minute}, "Window", "must be > 0"},
		{AdaptiveConfig{Window: time.Millisecond}, "Window", "at least 10ms"},
		{AdaptiveConfig{Window: 48 * time.Hour}, "Window", "at most 24h"},
	} {
		a, err := NewAdaptive(tc.c)
		var ce *ConfigError
		if a != nil || !errors.Is(err, ErrInvalidConfig) || !errors.As(err, &ce) ||
			ce.Kind != "adaptive" || ce.Field != tc.field || !strings.Contains(ce.Msg, tc.msg) {
			t.Errorf("NewAdaptive(%+v) = %v, %v; want an %s error containing %q", tc.c, a, err, tc.field, tc.msg)
		}
	}

	// Zero K and Window: K = 2 and a 2-minute window.
	clk := new(fakeClock)
	a := mustAdaptive(t, AdaptiveConfig{Now: clk.Now})
	for range 10 {
		a.Record(true, false)
	}
	a.Record(true, true)
	if s := a.Stats(); s.Requests != 11 || s.Accepts != 1 || s.RejectProbability != (11-2.0)/12 {
		t.Fatalf("Stats = %+v; want p = (11-2·1)/12", s)
	}
	clk.Advance(2*time.Minute - 1)
	if s := a.Stats(); s.Requests != 11 {
		t.Fatalf("requests expired before 2 minutes: %+v", s)
	}
	clk.Advance(1)
	if s := a.Stats(); s.Requests != 0 || s.RejectProbability != 0 {
		t.Fatalf("requests outlived the 2-minute window: %+v", s)
	}
}

// TestAdaptiveSREFormula verifies p = max(0, (requests − K·accepts)/(requests+1)),
// that the injected Rand decides against p, that refusals count as requests,
// and that Rand is not consulted while p is 0.
func TestAdaptiveSREFormula(t *testing.T) {
	clk := new(fakeClock)
	var draws int
	next := 0.5
	a := mustAdaptive(t, AdaptiveConfig{K: 2, Now: clk.Now, Rand: func() float64 { draws++; return next }})

	// Healthy: every attempt accepted, p stays 0 and Rand is never drawn.
	for range 100 {
		if !a.Admit() || !a.TryAcquire() {
			t.Fatal("a healthy backend was throttled")
		}
		a.Record(true, true)
	}
	if draws != 0 {
		t.Fatalf("Rand drawn %d times while p = 0", draws)
	}

	// Failing: 300 more requests, no accepts. p = (400 − 200)/401.
	for range 300 {
		a.Record(false, false)
	}
	p := 200.0 / 401
	if s := a.Stats(); s.RejectProbability != p {
		t.Fatalf("p = %v, want %v", s.RejectProbability, p)
	}
	next = p - 0.001 // below p: rejected, and the refusal is a request
	if a.Admit() {
		t.Fatal("Admit accepted with rand < p")
	}
	if s := a.Stats(); s.Requests != 401 || s.Refused != 1 {
		t.Fatalf("after a refusal: %+v; want 401 requests, 1 refused", s)
	}
	next = 0.9 // above p: allowed, and not counted until recorded
	if !a.TryAcquire() {
		t.Fatal("TryAcquire denied with rand > p")
	}
	a.Release() // a no-op
	if s := a.Stats(); s.Requests != 401 || s.Acquired != 101 || draws != 2 {
		t.Fatalf("after an admission: %+v (draws %d)", s, draws)
	}

	// Recovery: the window slides past the failures.
	clk.Advance(DefaultAdaptiveWindow)
	if s := a.Stats(); s.RejectProbability != 0 || s.Requests != 0 {
		t.Fatalf("after a quiet window: %+v", s)
	}
}

// TestAdaptiveRejectionRate verifies with a (seeded) uniform random source
// that the throttle rejects about a fraction p of attempts.
func TestAdaptiveRejectionRate(t *testing.T) {
	clk := new(fakeClock)
	a := mustAdaptive(t, AdaptiveConfig{K: 2, Now: clk.Now, Rand: rand.New(rand.NewPCG(1, 2)).Float64})
	// 2e5 requests, 4e4 accepts: p = (2e5 − 8e4)/(2e5+1) ≈ 0.6, and the
	// refusals below barely move it.
	for i := range 200_000 {
		a.Record(true, i%5 == 0)
	}
	const n = 5000
	refused := 0
	for range n {
		if !a.Admit() {
			refused++
		}
	}
	if got := float64(refused) / n; math.Abs(got-0.6) > 0.03 {
		t.Fatalf("refused %.3f of attempts, want about 0.6", got)
	}
}
