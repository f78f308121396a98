package budget

import (
	"errors"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// acquireAll calls TryAcquire until it is denied (at most limit+1 times) and
// returns how many were granted.
func acquireAll(b Budget, limit int) int {
	n := 0
	for n <= limit && b.TryAcquire() {
		n++
	}
	return n
}

func mustRatio(t testing.TB, c RatioConfig) *Ratio {
	t.Helper()
	r, err := NewRatio(c)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestNewRatioRejectsBadConfig verifies that every invalid field is reported
// as a *ConfigError naming the field, matching ErrInvalidConfig.
func TestNewRatioRejectsBadConfig(t *testing.T) {
	ok := RatioConfig{Percent: 10, MinPerSecond: 1, Window: time.Second}
	for _, tc := range []struct {
		name  string
		edit  func(*RatioConfig)
		field string
		msg   string
	}{
		{"negative percent", func(c *RatioConfig) { c.Percent = -5 }, "Percent", "must be >= 0, got -5"},
		{"NaN percent", func(c *RatioConfig) { c.Percent = math.NaN() }, "Percent", "must be a finite number, got NaN"},
		{"Inf percent", func(c *RatioConfig) { c.Percent = math.Inf(1) }, "Percent", "finite"},
		{"huge percent", func(c *RatioConfig) { c.Percent = 1001 }, "Percent", "must be <= 1000"},
		{"negative floor", func(c *RatioConfig) { c.MinPerSecond = -1 }, "MinPerSecond", "must be >= 0"},
		{"NaN floor", func(c *RatioConfig) { c.MinPerSecond = math.NaN() }, "MinPerSecond", "finite"},
		{"zero window", func(c *RatioConfig) { c.Window = 0 }, "Window", "must be > 0, got 0s"},
		{"negative window", func(c *RatioConfig) { c.Window = -time.Second }, "Window", "must be > 0"},
		{"tiny window", func(c *RatioConfig) { c.Window = time.Millisecond }, "Window", "at least 10ms"},
		{"huge window", func(c *RatioConfig) { c.Window = 25 * time.Hour }, "Window", "at most 24h"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := ok
			tc.edit(&c)
			r, err := NewRatio(c)
			if r != nil || !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("NewRatio(%+v) = %v, %v; want nil, ErrInvalidConfig", c, r, err)
			}
			var ce *ConfigError
			if !errors.As(err, &ce) || ce.Kind != "ratio" || ce.Field != tc.field || !strings.Contains(ce.Msg, tc.msg) {
				t.Fatalf("error = %q; want a ratio ConfigError on %s containing %q", err, tc.field, tc.msg)
			}
			if !strings.HasPrefix(err.Error(), "budget: ratio: "+tc.field+": ") {
				t.Errorf("Error() = %q", err)
			}
		})
	}
	_, err := NewRatio(RatioConfig{Percent: -1, MinPerSecond: math.NaN()})
	if got := strings.Count(err.Error(), "budget: ratio:"); got != 3 {
		t.Errorf("three bad fields reported %d errors: %q", got, err)
	}
}

// TestRatioFloorAlone verifies that with no first attempts, MinPerSecond ×
// Window retries are granted per window and no more.
func TestRatioFloorAlone(t *testing.T) {
	clk := new(fakeClock)
	r := mustRatio(t, RatioConfig{Percent: 10, MinPerSecond: 1, Window: 10 * time.Second, Now: clk.Now})
	if got := acquireAll(r, 100); got != 10 {
		t.Fatalf("granted %d, want the 10-retry floor", got)
	}
	if s := r.Stats(); s.Acquired != 10 || s.Denied != 1 || s.Withdrawals != 10 || s.Limit != 10 {
		t.Fatalf("Stats = %+v", s)
	}
}

// TestRatioPercent verifies that deposits fund Percent% retries on top of the
// floor, and that the outcome and retries do not deposit.
func TestRatioPercent(t *testing.T) {
	clk := new(fakeClock)
	r := mustRatio(t, RatioConfig{Percent: 10, Window: 10 * time.Second, Now: clk.Now})
	if r.TryAcquire() {
		t.Fatal("granted a retry with no first attempts and no floor")
	}
	for i := range 100 {
		r.Record(true, i%2 == 0)
		r.Record(false, false) // retries never deposit
	}
	if got := acquireAll(r, 1000); got != 10 {
		t.Fatalf("granted %d, want 10%% of 100", got)
	}
	r.Release() // a no-op: nothing is refunded
	if r.TryAcquire() {
		t.Fatal("Release refunded a withdrawal")
	}
}

// TestRatioExpiry verifies the bucket granularity: an event counts until its
// bucket leaves the ten-bucket ring, then deposits and withdrawals both expire.
func TestRatioExpiry(t *testing.T) {
	clk := new(fakeClock)
	const window, width = 10 * time.Second, time.Second
	r := mustRatio(t, RatioConfig{Percent: 100, Window: window, Now: clk.Now})
	clk.Set(width / 2) // inside bucket 0
	for range 5 {
		r.Record(true, true)
	}
	if got := acquireAll(r, 10); got != 5 {
		t.Fatalf("granted %d, want 5", got)
	}
	clk.Set(window - 1) // last instant of bucket 9: bucket 0 still counts
	if s := r.Stats(); s.FirstAttempts != 5 || s.Withdrawals != 5 {
		t.Fatalf("at window-1ns: Stats = %+v; want 5 deposits, 5 withdrawals", s)
	}
	clk.Set(window) // bucket 10 replaces bucket 0
	if s := r.Stats(); s.FirstAttempts != 0 || s.Withdrawals != 0 {
		t.Fatalf("at window: Stats = %+v; want everything expired", s)
	}
	r.Record(true, false)
	if got := acquireAll(r, 10); got != 1 {
		t.Fatalf("after expiry granted %d, want 1", got)
	}
}

// TestRatioClockSteps verifies that a clock stepping back is treated as
// standing still, and that a clock centuries ahead neither panics nor wraps.
func TestRatioClockSteps(t *testing.T) {
	clk := new(fakeClock)
	r := mustRatio(t, RatioConfig{Percent: 100, Window: 10 * time.Millisecond, Now: clk.Now})
	clk.Set(time.Hour)
	r.Record(true, true)
	clk.Set(-time.Hour) // before the origin, and before the last epoch
	if s := r.Stats(); s.FirstAttempts != 1 {
		t.Fatalf("after a backward step: Stats = %+v; want the deposit kept", s)
	}
	clk.Set(time.Duration(math.MaxInt64)) // ~292 years: past the last epoch
	r.Record(true, true)
	r.Record(true, true)
	if got := acquireAll(r, 10); got != 2 {
		t.Fatalf("at the last epoch granted %d, want 2", got)
	}
}

// TestRatioConcurrentNoOverdraw verifies that within one bucket, racing
// TryAcquires grant exactly the limit: the grant is a conditional CAS.
func TestRatioConcurrentNoOverdraw(t *testing.T) {
	clk := new(fakeClock)
	r := mustRatio(t, RatioConfig{Percent: 10, MinPerSecond: 5, Window: 10 * time.Second, Now: clk.Now})
	for range 1000 {
		r.Record(true, false)
	}
	const want = 100 + 50
	var granted atomic.Int64
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for range 100 {
				if r.TryAcquire() {
					granted.Add(1)
				}
				r.Record(false, false)
			}
		})
	}
	wg.Wait()
	if got := granted.Load(); got != want {
		t.Fatalf("granted %d, want exactly %d", got, want)
	}
	if s := r.Stats(); s.Acquired != want || s.Acquired+s.Denied != 1600 {
		t.Fatalf("Stats = %+v", s)
	}
}

// TestDefaults verifies the advertised default budgets.
func TestDefaults(t *testing.T) {
	clk := new(fakeClock)
	for _, tc := range []struct {
		name  string
		b     Budget
		limit float64
	}{
		{"retry", DefaultRetry(clk.Now), 100},
		{"hedge", DefaultHedge(clk.Now), 10},
	} {
		r, ok := tc.b.(*Ratio)
		if !ok {
			t.Fatalf("%s: %T, want *Ratio", tc.name, tc.b)
		}
		for range 1000 {
			r.Record(true, false)
		}
		if s := r.Stats(); s.Limit != tc.limit+100 {
			t.Errorf("%s: limit after 1000 calls = %v, want %v", tc.name, s.Limit, tc.limit+100)
		}
	}
	if DefaultRetry(nil).TryAcquire() != true {
		t.Error("DefaultRetry(nil) (real clock) denied its first retry")
	}
}

// TestRatioPair verifies a pair's two budgets count one set of deposits,
// recorded through either, and grant their permits independently, each
// against its own Percent and floor, over the same sliding window.
func TestRatioPair(t *testing.T) {
	clk := new(fakeClock)
	retry, hedge, err := NewRatioPair(
		RatioConfig{Percent: 10, MinPerSecond: 1, Window: 10 * time.Second, Now: clk.Now},
		RatioConfig{Percent: 20, Window: 10 * time.Second, Now: func() time.Time { panic("the pair reads the first clock") }})
	if err != nil {
		t.Fatal(err)
	}
	if !SharesDeposits(retry, hedge) || !SharesDeposits(hedge, retry) {
		t.Fatal("SharesDeposits is false for a pair")
	}
	for i := range 100 {
		if i%2 == 0 {
			retry.Record(true, true)
		} else {
			hedge.Record(true, false)
		}
		retry.Record(false, true) // not a first attempt: no deposit
	}
	if got := acquireAll(hedge, 100); got != 20 {
		t.Fatalf("hedge granted %d, want 20%% of 100", got)
	}
	if got := acquireAll(retry, 100); got != 20 {
		t.Fatalf("retry granted %d after the hedges, want 10%% of 100 + 10 floor", got)
	}
	rs, hs := retry.Stats(), hedge.Stats()
	if rs.FirstAttempts != 100 || hs.FirstAttempts != 100 || rs.Withdrawals != 20 || hs.Withdrawals != 20 {
		t.Fatalf("stats: retry %+v, hedge %+v", rs, hs)
	}
	clk.Advance(11 * time.Second) // the window has slid past everything
	if rs := retry.Stats(); rs.FirstAttempts != 0 || rs.Withdrawals != 0 {
		t.Fatalf("after the window: %+v", rs)
	}
	if got := acquireAll(hedge, 100); got != 0 {
		t.Fatalf("hedge granted %d with no deposits and no floor", got)
	}
}

// TestRatioPairErrors verifies NewRatioPair's validation, and that
// SharesDeposits tells pairs from everything else.
func TestRatioPairErrors(t *testing.T) {
	ok := RatioConfig{Percent: 10, MinPerSecond: 1, Window: time.Second}
	bad := ok
	bad.Percent = -1
	other := ok
	other.Window = 2 * time.Second
	for name, c := range map[string][2]RatioConfig{"bad first": {bad, ok}, "bad second": {ok, bad}, "windows differ": {ok, other}} {
		a, b, err := NewRatioPair(c[0], c[1])
		var ce *ConfigError
		if a != nil || b != nil || !errors.Is(err, ErrInvalidConfig) || !errors.As(err, &ce) {
			t.Errorf("%s: %v, %v, %v", name, a, b, err)
		}
	}
	r1, r2 := mustRatio(t, ok), mustRatio(t, ok)
	tb, _ := NewTokenBucket(TokenBucketConfig{MaxTokens: 10, TokenRatio: 0.1})
	for name, pair := range map[string][2]Budget{"two ratios": {r1, r2}, "one ratio twice": {r1, r1}, "not ratios": {tb, r1}, "nil": {nil, nil}} {
		if SharesDeposits(pair[0], pair[1]) {
			t.Errorf("%s: SharesDeposits is true", name)
		}
	}
}

// TestRatioPairConcurrent verifies, under -race, that concurrent grants on
// both budgets of a pair never exceed either limit.
func TestRatioPairConcurrent(t *testing.T) {
	clk := new(fakeClock)
	a, b, err := NewRatioPair(RatioConfig{Percent: 10, Window: time.Second, Now: clk.Now}, RatioConfig{Percent: 30, Window: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	for range 1000 {
		a.Record(true, true)
	}
	var granted [2]atomic.Int64
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 200 {
				if g%2 == 0 && a.TryAcquire() {
					granted[0].Add(1)
				}
				if g%2 == 1 && b.TryAcquire() {
					granted[1].Add(1)
				}
			}
		}()
	}
	wg.Wait()
	if granted[0].Load() != 100 || granted[1].Load() != 300 {
		t.Fatalf("granted %d and %d, want 100 and 300", granted[0].Load(), granted[1].Load())
	}
}
