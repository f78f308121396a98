package bench

import (
	"context"
	"time"

	"github.com/regoresilience/rego/policy"
)

// floorCtx has the size and shape of rego's first-attempt context (48
// bytes: the caller's context and the key).
type floorCtx struct {
	parent context.Context
	key    policy.Key
}

func (c *floorCtx) Deadline() (time.Time, bool) { return c.parent.Deadline() }
func (c *floorCtx) Done() <-chan struct{}       { return c.parent.Done() }
func (c *floorCtx) Err() error                  { return c.parent.Err() }
func (c *floorCtx) Value(key any) any           { return c.parent.Value(key) }

// floorCall is the least any implementation of rego's design does per
// successful call: allocate the attempt's context (the design's one
// allocation) and run the op under a panic guard, so that a panic can be
// recorded before it is re-raised. No key lookup, no policy, no budget, no
// classification. It is not inlined, so that the compiler cannot see the op
// and keep the context on the stack, which rego (calling an unknown op)
// cannot either.
//
//go:noinline
func floorCall(ctx context.Context, key policy.Key, op func(context.Context) error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			panic(r)
		}
	}()
	return op(&floorCtx{parent: ctx, key: key})
}
