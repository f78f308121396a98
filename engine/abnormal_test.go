package engine

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/regoresilience/rego/classify"
	"github.com/regoresilience/rego/observe"
	"github.com/regoresilience/rego/policy"
)

// Faults TestAbnormalExitsRandom injects into a call.
const (
	faultNone = iota
	faultOpPanic
	faultOpGoexit
	faultClassifierPanic
	faultRecordPanic // the retry budget's Record
	faultHedgeAcquirePanic
	numFaults
)

var faultNames = [numFaults]string{"none", "op-panic", "op-goexit", "classifier-panic", "record-panic", "hedge-acquire-panic"}

// faultBudget counts permits and panics in the method its fault names, on
// the nth call to it (counting from 1).
type faultBudget struct {
	fault              int
	nth                int32
	calls              atomic.Int32
	acquired, released atomic.Int32
}

func (b *faultBudget) hit(f int) {
	if b.fault == f && b.calls.Add(1) == b.nth {
		panic(fmt.Sprintf("injected %s", faultNames[f]))
	}
}

func (b *faultBudget) TryAcquire() bool {
	b.hit(faultHedgeAcquirePanic)
	b.acquired.Add(1)
	return true
}
func (b *faultBudget) Release()          { b.released.Add(1) }
func (b *faultBudget) Record(bool, bool) { b.hit(faultRecordPanic) }

// countObserver counts the callbacks of one call.
type countObserver struct {
	observe.Base
	mu            sync.Mutex
	starts, ends  int
	finalPanicked bool
}

func (o *countObserver) OnStart(context.Context, policy.Key) { o.mu.Lock(); o.starts++; o.mu.Unlock() }
func (o *countObserver) OnSuccess(context.Context, *observe.Timeline) {
	o.mu.Lock()
	o.ends++
	o.mu.Unlock()
}
func (o *countObserver) OnFailure(_ context.Context, tl *observe.Timeline) {
	o.mu.Lock()
	o.ends++
	_, o.finalPanicked = tl.FinalErr.(*PanicError)
	o.mu.Unlock()
}

// TestAbnormalExitsRandom runs random policies (retries, attempt timeouts,
// 0-2 hedges) with one random fault per call — an op that panics or calls
// runtime.Goexit, a classifier or budget that panics — with and without an
// observer, and checks what must hold however a call ends: it ends (returns,
// panics or exits the goroutine); no op starts or keeps running after it; an
// observer hears OnStart once and OnSuccess/OnFailure once, a *PanicError
// when the call panicked or exited; every hedge permit granted is released.
func TestAbnormalExitsRandom(t *testing.T) {
	seeds := 300
	if testing.Short() {
		seeds = 60
	}
	for seed := range uint64(seeds) {
		rng := rand.New(rand.NewPCG(seed, 0xab0))
		fault := rng.IntN(numFaults)
		nth := int32(1 + rng.IntN(3))
		p := fixed(1+rng.IntN(3), time.Millisecond)
		if rng.IntN(2) == 0 {
			p.Retry.AttemptTimeout = 20 * time.Millisecond
		}
		if h := rng.IntN(3); h > 0 {
			p.Hedge = policy.Hedge{MaxHedges: h, Delay: time.Duration(2+rng.IntN(5)) * time.Millisecond}
		}
		observed := rng.IntN(2) == 0
		desc := fmt.Sprintf("seed %d: fault %s #%d, observed %v, policy %+v", seed, faultNames[fault], nth, observed, p)
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				runAbnormal(t, desc, rng, p, fault, nth, observed)
			})
		})
	}
}

func runAbnormal(t *testing.T, desc string, rng *rand.Rand, p policy.Policy, fault int, nth int32, observed bool) {
	retryB := &faultBudget{fault: fault, nth: nth}
	hedgeB := &faultBudget{fault: fault, nth: nth}
	p.RetryBudget, p.HedgeBudget, p.Classifier = "retry", "hedge", "faulty"
	var classified atomic.Int32
	cls := classify.Func(func(ctx context.Context, err error) classify.Verdict {
		if fault == faultClassifierPanic && classified.Add(1) == nth {
			panic("injected classifier-panic")
		}
		return classify.Default.Classify(ctx, err)
	})
	obs := &countObserver{}
	opts := []Option{withPolicy(p), WithBudget("retry", retryB), WithBudget("hedge", hedgeB),
		WithClassifier("faulty", cls), WithLogger(discardLogger())}
	if observed {
		opts = append(opts, WithObserver(obs))
	}
	e, err := New(opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()

	// Each attempt plans a latency and an outcome up front (the op runs
	// concurrently with hedges; the plan is drawn in start order).
	var (
		mu      sync.Mutex
		plans   = rng.Perm(16)
		started atomic.Int32
		running atomic.Int32
	)
	op := func(ctx context.Context) error {
		n := started.Add(1)
		running.Add(1)
		defer running.Add(-1)
		mu.Lock()
		plan := plans[int(n-1)%len(plans)]
		mu.Unlock()
		if fault == faultOpPanic && n == nth {
			panic("injected op-panic")
		}
		if fault == faultOpGoexit && n == nth {
			runtime.Goexit()
		}
		select {
		case <-time.After(time.Duration(plan%8) * time.Millisecond):
		case <-ctx.Done():
			return ctx.Err()
		}
		if plan%3 == 0 {
			return nil
		}
		return errFlaky
	}

	ended := make(chan string)
	go func() {
		how := "exited"
		defer func() { ended <- how }()
		defer func() {
			if r := recover(); r != nil {
				how = "panicked"
			}
		}()
		e.Do(context.Background(), key, op)
		how = "returned"
	}()
	var how string
	select {
	case how = <-ended:
	case <-time.After(time.Minute):
		t.Fatalf("%s: the call did not end", desc)
	}
	synctest.Wait()
	t.Logf("%s: the call %s after %d ops", desc, how, started.Load())
	atEnd := started.Load()
	<-time.After(time.Second) // any hedge timer left armed fires by now
	synctest.Wait()
	if n := started.Load(); n != atEnd {
		t.Errorf("%s: %d ops started after the call %s", desc, n-atEnd, how)
	}
	if n := running.Load(); n != 0 {
		t.Errorf("%s: %d ops still running a second after the call %s", desc, n, how)
	}
	if a, r := hedgeB.acquired.Load(), hedgeB.released.Load(); a != r {
		t.Errorf("%s: hedge permits: %d granted, %d released", desc, a, r)
	}
	if observed {
		obs.mu.Lock()
		defer obs.mu.Unlock()
		if obs.starts != 1 || obs.ends != 1 {
			t.Errorf("%s: OnStart %d, OnSuccess/OnFailure %d; want 1 and 1 (the call %s)", desc, obs.starts, obs.ends, how)
		}
		if how != "returned" && !obs.finalPanicked {
			t.Errorf("%s: the call %s but its timeline's FinalErr is not a *PanicError", desc, how)
		}
	}
}

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
