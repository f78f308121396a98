package stress

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/regoresilience/rego/classify"
	"github.com/regoresilience/rego/engine"
	"github.com/regoresilience/rego/observe"
)

// callIDKey carries a call's id in the caller's context, where the observer
// (which receives the caller's ctx) finds it.
type callIDKey struct{}

// opError is the error one op invocation returns: unique per invocation, so a
// returned error can be traced back to the attempt that produced it. cause is
// the context error when the op was interrupted.
type opError struct {
	call  uint64
	index int
	kind  int
	cause error
}

func (e *opError) Error() string {
	if e.cause != nil {
		return fmt.Sprintf("op %d#%d interrupted: %v", e.call, e.index, e.cause)
	}
	return fmt.Sprintf("op %d#%d: %s", e.call, e.index, outcomeNames[e.kind])
}

func (e *opError) Unwrap() error { return e.cause }

// panicValue is what a panicking op panics with.
type panicValue struct {
	call  uint64
	index int
}

// opValue is what a succeeding op returns (DoValue flavors).
type opValue struct {
	call  uint64
	index int
}

// invocation is one run of the op: what the engine handed it and what it did.
// Its fields are written under the call's mu.
type invocation struct {
	info        observe.AttemptInfo
	infoOK      bool
	ctxDeadline time.Time // from ctx.Deadline()
	hasDeadline bool
	start, end  time.Time
	planned     int           // the outcome drawn for it (outSuccess...)
	wait        time.Duration // how long it meant to take
	interrupted bool          // its context ended the wait
	err         error         // what it returned (nil on success or panic)
	oe          *opError      // the opError inside err, if any
	panicked    bool
	done        bool // it returned (or panicked)
}

// callRec is one call: how it was made, every op invocation, and what the
// engine returned.
type callRec struct {
	id      uint64
	w       *world
	spec    *keySpec
	seed    uint64 // with the attempt index, seeds each invocation's behaviour
	flavor  int
	ctxKind int

	// Set by the caller goroutine before the call.
	start       time.Time
	ctxDeadline time.Time // the caller's (ctxTimeout); zero otherwise
	deadline    time.Time // the call's: min(ctxDeadline, start+Timeout); zero = none
	cancelAfter time.Duration

	mu       sync.Mutex // guards cancelAt and invs: hedged ops run concurrently
	cancelAt time.Time  // when the caller cancelled ctx (ctxCancel, ctxPreCancel)
	invs     []*invocation

	// Set by the caller goroutine when the call returned.
	returnAt time.Time
	err      error
	val      opValue
	gotVal   bool
	tl       *observe.Timeline
	panicked bool
	panicVal any
}

// op is the operation every call runs. Its behaviour depends only on the call's
// seed and the attempt index, so concurrent hedges need no shared random source.
// It always honours ctx.
func (c *callRec) op(ctx context.Context) (opValue, error) {
	c.w.running.Add(1)
	c.w.invoked.Add(1)
	defer c.w.running.Add(-1)

	inv := &invocation{start: time.Now()}
	inv.info, inv.infoOK = observe.AttemptFromContext(ctx)
	inv.ctxDeadline, inv.hasDeadline = ctx.Deadline()
	idx := inv.info.Index
	if !inv.infoOK {
		idx = -1
	}
	pr := c.w.pr
	rng := rand.New(rand.NewPCG(c.seed, uint64(idx)))
	switch {
	case rng.Float64() < pr.slowProb:
		inv.wait = randDur(rng, 20*time.Millisecond, 300*time.Millisecond)
	case rng.IntN(5) == 0:
		inv.wait = 0
	default:
		inv.wait = randDur(rng, 0, 10*time.Millisecond)
	}
	inv.planned = pr.outcomes.pick(rng)
	pushback := randDur(rng, 100*time.Microsecond, 60*time.Millisecond)
	c.mu.Lock()
	c.invs = append(c.invs, inv)
	c.mu.Unlock()

	switch pr.sabotage {
	case sabotageLinger: // work left running after the op returns
		c.w.running.Add(1)
		go func() {
			<-c.w.end
			c.w.running.Add(-1)
		}()
	case sabotageFakeCallback: // a second OnStart for the call
		if idx == 0 {
			c.w.obs.OnStart(ctx, c.spec.key)
		}
	case sabotageStealPermit: // a permit never released
		if idx == 0 {
			c.w.conc.TryAcquire()
		}
	}

	var cause error
	if inv.wait > 0 && pr.sabotage == sabotageIgnoreCtx {
		time.Sleep(inv.wait)
	} else if inv.wait > 0 {
		t := time.NewTimer(inv.wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			cause = ctx.Err()
		}
	}
	var (
		err error
		oe  *opError
	)
	if cause != nil {
		oe = &opError{call: c.id, index: idx, kind: inv.planned, cause: cause}
		err = oe
	} else {
		switch inv.planned {
		case outRetryable:
			oe = &opError{call: c.id, index: idx, kind: inv.planned}
			err = oe
		case outPermanent:
			oe = &opError{call: c.id, index: idx, kind: inv.planned}
			err = classify.Permanent(oe)
		case outRetryAfter:
			oe = &opError{call: c.id, index: idx, kind: inv.planned}
			err = classify.RetryAfter(oe, pushback)
		}
	}
	end := time.Now()
	c.mu.Lock()
	inv.end, inv.err, inv.oe, inv.interrupted, inv.done = end, err, oe, cause != nil, true
	inv.panicked = cause == nil && inv.planned == outPanic
	c.mu.Unlock()
	if inv.panicked {
		panic(panicValue{call: c.id, index: idx})
	}
	return opValue{call: c.id, index: idx}, err
}

func (c *callRec) opErr(ctx context.Context) error {
	_, err := c.op(ctx)
	return err
}

// snapshot returns the call's cancel time and invocations, ordered by attempt index.
func (c *callRec) snapshot() (time.Time, []invocation) {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]invocation, len(c.invs))
	for i, inv := range c.invs {
		out[i] = *inv
	}
	for i := 1; i < len(out); i++ { // insertion sort: short slices
		for j := i; j > 0 && out[j].info.Index < out[j-1].info.Index; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return c.cancelAt, out
}

// caller issues n calls, pausing a random think time between them.
func (w *world) caller(rng *rand.Rand, n int, ids *atomic.Uint64) {
	for range n {
		if rng.IntN(4) != 0 {
			time.Sleep(randDur(rng, 0, w.pr.think)) // virtual time: lets calls interleave
		}
		w.doCall(rng, ids.Add(1))
	}
}

// doCall makes one call with a random key, caller context and call shape.
func (w *world) doCall(rng *rand.Rand, id uint64) {
	c := &callRec{id: id, w: w, spec: &w.keys[rng.IntN(len(w.keys))], seed: rng.Uint64(),
		flavor: flavorWeights.pick(rng), ctxKind: w.pr.ctx.pick(rng)}
	w.mu.Lock()
	w.calls = append(w.calls, c)
	w.mu.Unlock()

	ctx := context.WithValue(context.Background(), callIDKey{}, id)
	cancel := context.CancelFunc(func() {})
	stop := make(chan struct{})
	switch c.ctxKind {
	case ctxTimeout:
		ctx, cancel = context.WithTimeout(ctx, randDur(rng, time.Microsecond, 300*time.Millisecond))
		c.ctxDeadline, _ = ctx.Deadline()
	case ctxCancel:
		ctx, cancel = context.WithCancel(ctx)
		c.cancelAfter = randDur(rng, time.Nanosecond, 200*time.Millisecond)
		go func() {
			t := time.NewTimer(c.cancelAfter)
			defer t.Stop()
			select {
			case <-t.C:
				c.mu.Lock()
				c.cancelAt = time.Now()
				c.mu.Unlock()
				cancel()
			case <-stop:
			}
		}()
	case ctxPreCancel:
		ctx, cancel = context.WithCancel(ctx)
		c.cancelAt = time.Now()
		cancel()
	}
	c.start = time.Now()
	c.deadline = c.ctxDeadline
	if to := c.spec.pol.Timeout; to > 0 {
		if d := c.start.Add(to); c.deadline.IsZero() || d.Before(c.deadline) {
			c.deadline = d
		}
	}
	c.run(ctx)
	close(stop)
	cancel()
}

// run calls the engine in the shape drawn for the call, recovering the op's
// panic if the engine re-raises one.
func (c *callRec) run(ctx context.Context) {
	e, key := c.w.eng, c.spec.key
	defer func() {
		c.returnAt = time.Now()
		if r := recover(); r != nil {
			c.panicked, c.panicVal = true, r
		}
	}()
	switch c.flavor {
	case flavorDo:
		c.err = e.Do(ctx, key, c.opErr)
	case flavorDoWithTimeline:
		c.tl, c.err = e.DoWithTimeline(ctx, key, c.opErr)
	case flavorDoValue:
		c.val, c.err = engine.DoValue(e, ctx, key, c.op)
		c.gotVal = true
	case flavorDoValueWithTimeline:
		c.val, c.tl, c.err = engine.DoValueWithTimeline(e, ctx, key, c.op)
		c.gotVal = true
	}
}
