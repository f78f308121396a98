package regogrpc

import (
	"context"
	"strconv"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/regoresilience/rego"
	"github.com/regoresilience/rego/engine"
)

// UnaryClientInterceptor returns an interceptor that runs each unary call as
// one rego call: attempts, backoff, pushback, timeouts, hedging and budgets
// as the policy of the call's key says (see DefaultKey and WithKeyFunc). A
// nil exec means the rego package's default executor, looked up at each call
// (so rego.SetDefault is honoured). Give the connection grpc.WithDisableRetry
// too (DialOptions does both), so that grpc does not retry under rego.
//
// # Attempts
//
// Every attempt invokes the rest of the chain with the call's request and
// options, under a context that rego ends (the attempt timeout, the call's
// Timeout, a lost hedge race) and that carries the attempt's AttemptInfo
// (rego.AttemptFromContext). Attempts after the first carry the
// grpc-previous-rpc-attempts header (the number of attempts started before),
// as gRFC A6 says. Which failures are retried is the classifier's decision:
// select Classifier ("classifier": "grpc") in the policies; under
// classify.Default the interceptor's marks give the same decisions, with
// coarser reasons. A unary call is retried whatever the server sent before
// failing (its request is in hand): the rules are the status codes'.
//
// # Replies and hedging
//
// When the reply is a proto.Message, every attempt unmarshals into a fresh
// message of the reply's type (ProtoReflect().New()), and only the winner's
// is copied into the caller's reply (proto.Reset, then proto.Merge), after
// the call: attempts running at once never write into one message, and a
// failed call leaves the reply as the caller passed it. Losers are
// cancelled; their server handlers see their context end. A reply that is not
// a proto.Message (another codec) is written by each attempt in turn, and
// hedges are not sent for it (ErrHedgeSkipped).
//
// grpc.Header, grpc.Trailer and grpc.Peer call options get the header,
// trailer and peer of the attempt that decided the call (the winner, or the
// last failure); each attempt receives its own, so hedges do not race on
// them.
//
// # Errors
//
// A failed call returns an error whose gRPC status (status.Code,
// status.FromError) is the last attempt's, as the server sent it, or
// CANCELLED / DEADLINE_EXCEEDED when the caller's context ended the call (as
// grpc-go's own retries do), or CANCELLED when the executor was closed. It
// wraps the engine's *engine.Error (errors.As), which says how many attempts
// ran and why rego stopped.
func UnaryClientInterceptor(exec *engine.Engine, opts ...Option) grpc.UnaryClientInterceptor {
	cfg := newConfig(opts)
	return func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn,
		invoker grpc.UnaryInvoker, callOpts ...grpc.CallOption) error {
		e := exec
		if e == nil {
			e = rego.Default()
		}
		u := &unaryCall{Context: ctx, method: method, req: req, reply: reply, cc: cc, invoker: invoker}
		if m, ok := reply.(proto.Message); ok {
			// Read the caller's reply here only: hedges may still start
			// after the call, while the reply is being written below.
			u.replyType = m.ProtoReflect().Type()
		}
		u.opts, u.targets = splitOptions(callOpts)
		won, err := engine.DoValue(e, u, cfg.key(method), runUnary)
		if err != nil {
			if ae, ok := lastAttempt(err); ok && ae.attempt != nil {
				u.targets.copyOut(ae.attempt)
			}
			return toCallError(ctx, err)
		}
		if won.reply != nil {
			dst := reply.(proto.Message)
			proto.Reset(dst)
			proto.Merge(dst, won.reply)
		}
		u.targets.copyOut(won)
		return nil
	}
}

// unaryCall is one intercepted unary call. Written by the interceptor before
// the engine runs it; read-only while attempts run (in the caller's goroutine
// and, for hedges, in goroutines that may outlive the call), except first,
// which belongs to the call's first attempt.
//
// It is also the context the engine runs the call under: the caller's, plus
// a Value that finds the call again. So the engine's op is one function for
// every call (runUnary) rather than a closure per call, and the first
// attempt writes into first rather than into an attempt of its own: the
// interceptor's own allocations on the path nearly every call takes are this
// struct and the fresh reply.
type unaryCall struct {
	context.Context // the caller's
	method          string
	req, reply      any
	replyType       protoreflect.MessageType // the reply's type, if it is a proto.Message
	cc              *grpc.ClientConn
	invoker         grpc.UnaryInvoker
	opts            []grpc.CallOption // the caller's, less Header/Trailer/Peer
	targets         *targets          // the caller's Header/Trailer/Peer targets, or nil
	first           unaryAttempt      // the attempt with Index 0, which is never a hedge: one per call
}

// callKey is the context key under which a unaryCall finds itself.
type callKey struct{}

// Value returns the call for callKey, else the caller's context's value.
func (u *unaryCall) Value(key any) any {
	if _, ok := key.(callKey); ok {
		return u
	}
	return u.Context.Value(key)
}

// AfterFunc lets contexts derived from the call follow the caller's
// cancelation as they would follow the caller's context itself: without a
// goroutine when the caller's context has an AfterFunc of its own (a rego
// attempt's, say). The standard library looks for this method.
func (u *unaryCall) AfterFunc(f func()) func() bool { return context.AfterFunc(u.Context, f) }

// runUnary is the operation the engine runs once per attempt of every unary
// call: ctx derives from the call's unaryCall.
func runUnary(ctx context.Context) (*unaryAttempt, error) {
	return ctx.Value(callKey{}).(*unaryCall).attempt(ctx)
}

// targets are where the caller's grpc.Header, grpc.Trailer and grpc.Peer
// options want the deciding attempt's header, trailer and peer.
type targets struct {
	header  *metadata.MD
	trailer *metadata.MD
	peer    *peer.Peer
}

// unaryAttempt is what one attempt received. Owned by its attempt until it
// returns; read by the interceptor after the call only if it decided it.
type unaryAttempt struct {
	reply   proto.Message      // a fresh message, or nil for non-proto replies
	opts    [4]grpc.CallOption // room for the attempt's options: most calls need no slice of their own
	header  metadata.MD
	trailer metadata.MD
	peer    peer.Peer
}

// splitOptions keeps the caller's options, moving the targets of grpc.Header,
// grpc.Trailer and grpc.Peer aside: attempts get their own.
func splitOptions(opts []grpc.CallOption) ([]grpc.CallOption, *targets) {
	for i, o := range opts {
		switch o.(type) {
		case grpc.HeaderCallOption, grpc.TrailerCallOption, grpc.PeerCallOption:
			t := &targets{}
			kept := append(make([]grpc.CallOption, 0, len(opts)), opts[:i]...)
			for _, o := range opts[i:] {
				switch o := o.(type) {
				case grpc.HeaderCallOption:
					t.header = o.HeaderAddr
				case grpc.TrailerCallOption:
					t.trailer = o.TrailerAddr
				case grpc.PeerCallOption:
					t.peer = o.PeerAddr
				default:
					kept = append(kept, o)
				}
			}
			return kept, t
		}
	}
	return opts, nil
}

// attempt runs one attempt of the call; ctx is the attempt's.
func (u *unaryCall) attempt(ctx context.Context) (*unaryAttempt, error) {
	info, ok := rego.AttemptFromContext(ctx)
	if info.Hedge && u.replyType == nil {
		return nil, ErrHedgeSkipped
	}
	a := &u.first
	if !ok || info.Index > 0 {
		a = &unaryAttempt{}
	}
	out := u.reply
	if u.replyType != nil {
		a.reply = u.replyType.New().Interface()
		out = a.reply
	}
	actx := ctx
	if info.Index > 0 {
		actx = metadata.AppendToOutgoingContext(ctx, PreviousAttemptsKey, strconv.Itoa(info.Index))
	}
	opts := append(append(a.opts[:0], u.opts...), grpc.Trailer(&a.trailer))
	if u.targets != nil {
		opts = append(opts, grpc.Header(&a.header), grpc.Peer(&a.peer))
	}
	if err := u.invoker(actx, u.method, u.req, out, u.cc, opts...); err != nil {
		ae := newAttemptError(err, ctx, u.Context, a.trailer[PushbackKey])
		ae.attempt = a
		return nil, ae.mark()
	}
	return a, nil
}

// copyOut hands the deciding attempt's header, trailer and peer to the
// caller's call options. A nil t does nothing.
func (t *targets) copyOut(a *unaryAttempt) {
	if t == nil {
		return
	}
	if t.header != nil {
		*t.header = a.header
	}
	if t.trailer != nil {
		*t.trailer = a.trailer
	}
	if t.peer != nil {
		*t.peer = a.peer
	}
}
