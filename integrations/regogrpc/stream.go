package regogrpc

import (
	"context"
	"io"
	"strconv"
	"sync"
	"sync/atomic"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/regoresilience/rego"
	"github.com/regoresilience/rego/classify"
	"github.com/regoresilience/rego/engine"
)

// StreamClientInterceptor returns an interceptor that retries streams, as
// gRFC A6 does, until they are committed. A nil exec means the rego
// package's default executor, looked up at each call. Give the connection
// grpc.WithDisableRetry too (DialOptions does both).
//
// # What is retried
//
// One stream is one rego call, which lasts until the stream is committed.
// A stream commits when
//
//   - the server sends its response headers (or its first response message,
//     which comes after them), or ends the stream with an OK status;
//   - the client's messages sent so far would need more than the replay
//     buffer (WithRetryBufferSize, DefaultRetryBufferSize = 256 KiB of
//     proto.Size), or a message is not a proto.Message (its size is unknown);
//   - or the call fails for good (the policy, the classifier, the budget, the
//     caller's context or the executor said so).
//
// Before the commit, an attempt that fails (it could not open the stream, or
// the server ended it without headers, with a status the classifier retries)
// is retried under the policy: a new stream is opened (with the
// grpc-previous-rpc-attempts header), the client's messages sent so far are
// sent on it again, in order, followed by CloseSend if the client had called
// it. The client goes on calling SendMsg and CloseSend meanwhile: its
// messages are buffered and sent on the current attempt; SendMsg reports
// the failure of a stream that is going to be retried as success (the
// message will be replayed). RecvMsg and Header wait for the commit.
//
// After the commit nothing is retried: every error the stream returns is the
// server's, as grpc-go returns it. A stream is never hedged: a hedge the policy
// fires fails at once with ErrHedgeSkipped, so give hedging policies to
// unary methods only.
//
// # Time
//
// The policy's Timeout and Retry.AttemptTimeout bound a stream until it
// commits, not for its whole life: a committed stream lives as long as the
// caller's context. Each attempt's stream is cancelled when its attempt
// ends (timeout, failure); a stream that commits is detached from rego.
//
// # Errors and goroutines
//
// When the call fails before the commit, NewStream returns the error if no
// attempt could open a stream; otherwise RecvMsg and Header return it. Its
// gRPC status is the last attempt's (or the caller's context's), and it
// wraps the engine's *engine.Error, as for unary calls.
//
// Each stream runs its rego call in one goroutine, which ends when the stream
// commits or fails for good; so, like grpc's own streams, a stream must be
// finished (RecvMsg until an error, or its context cancelled) for that
// goroutine to end.
func StreamClientInterceptor(exec *engine.Engine, opts ...Option) grpc.StreamClientInterceptor {
	cfg := newConfig(opts)
	return func(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string,
		streamer grpc.Streamer, callOpts ...grpc.CallOption) (grpc.ClientStream, error) {
		e := exec
		if e == nil {
			e = rego.Default()
		}
		s := &retryStream{
			ctx: ctx, desc: desc, cc: cc, method: method, streamer: streamer, opts: callOpts,
			limit: cfg.bufferSize, started: make(chan struct{}), done: make(chan struct{}),
		}
		go s.run(e, cfg.key(method))
		<-s.started
		s.mu.Lock()
		cur := s.cur
		s.mu.Unlock()
		if cur == nil {
			<-s.done
			return nil, s.final
		}
		return s, nil
	}
}

// retryStream is the stream the caller holds: the current attempt's stream
// until the commit, then the committed one.
//
// Ownership: the fields above mu are read-only. mu guards the fields below it
// until the call is settled. cur is replaced only before the commit;
// committed is stored with cur fixed, and done is closed after the call is
// settled (final, if any, written before), so a goroutine that saw committed
// or done reads cur and final without mu.
type retryStream struct {
	ctx      context.Context // the caller's
	desc     *grpc.StreamDesc
	cc       *grpc.ClientConn
	method   string
	streamer grpc.Streamer
	opts     []grpc.CallOption
	limit    int

	mu        sync.Mutex
	cur       grpc.ClientStream  // the current attempt's stream
	cancelCur context.CancelFunc // ends cur's context
	detach    func() bool        // unlinks cur from its attempt's context
	buf       []any              // messages sent before the commit, for replay
	size      int                // their proto.Size total
	closeSent bool
	settled   bool        // committed or failed: no more retries
	trailer   metadata.MD // the trailer of the last failed attempt

	committed atomic.Bool   // set once, under mu, with cur fixed
	started   chan struct{} // closed when the first stream is open or the call ended
	startOnce sync.Once
	done      chan struct{} // closed when the rego call returned, or at a commit by overflow
	doneOnce  sync.Once
	final     error // the call's error if it failed before the commit; written before done is closed
}

// run is the stream's goroutine: the rego call, from NewStream to the commit.
// done is closed after the call returned, so that its observers have seen
// it before RecvMsg or Header return.
func (s *retryStream) run(e *engine.Engine, key rego.Key) {
	err := e.Do(s.ctx, key, s.attempt)
	s.mu.Lock()
	if err != nil && !s.committed.Load() {
		s.final = toCallError(s.ctx, err)
	}
	s.settleLocked(err == nil)
	s.mu.Unlock()
	s.closeDone()
	s.startOnce.Do(func() { close(s.started) })
}

func (s *retryStream) closeDone() { s.doneOnce.Do(func() { close(s.done) }) }

// settleLocked ends the retries: the stream is committed (ok) or failed.
func (s *retryStream) settleLocked(ok bool) {
	if s.settled {
		return
	}
	s.settled = true
	s.buf, s.size = nil, 0
	if ok {
		if s.detach != nil {
			s.detach()
		}
		s.committed.Store(true)
	}
}

// attempt is the operation the engine runs once per attempt: open a stream,
// replay, and wait for the commit or the end of the stream.
func (s *retryStream) attempt(actx context.Context) error {
	info, _ := rego.AttemptFromContext(actx)
	if info.Hedge {
		return ErrHedgeSkipped
	}
	if s.committed.Load() {
		return classify.Permanent(ErrStreamCommitted)
	}
	sctx, cancel := context.WithCancel(s.ctx)
	if info.Index > 0 {
		sctx = metadata.AppendToOutgoingContext(sctx, PreviousAttemptsKey, strconv.Itoa(info.Index))
	}
	stop := context.AfterFunc(actx, cancel)
	cs, err := s.streamer(sctx, s.desc, s.cc, s.method, s.opts...)
	if err != nil {
		stop()
		cancel()
		return newAttemptError(err, actx, s.ctx, nil).mark()
	}

	s.mu.Lock()
	if s.settled {
		s.mu.Unlock()
		stop()
		cancel()
		return classify.Permanent(ErrStreamCommitted)
	}
	s.cur, s.cancelCur, s.detach = cs, cancel, stop
	for _, m := range s.buf {
		if cs.SendMsg(m) != nil {
			break // the stream failed: Header below sees it end
		}
	}
	if s.closeSent {
		cs.CloseSend()
	}
	s.mu.Unlock()
	s.startOnce.Do(func() { close(s.started) })

	md, _ := cs.Header() // blocks until the headers arrive or the stream ends
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.settled {
		return nil // committed meanwhile (the buffer overflowed): the caller's now
	}
	if md != nil {
		if stop() {
			s.settleLocked(true)
			return nil
		}
		// rego ended the attempt as the headers arrived: the stream is being
		// cancelled, and the attempt ended the way its context did.
		cancel()
		err := status.FromContextError(actx.Err()).Err()
		return newAttemptError(err, actx, s.ctx, nil).mark()
	}
	// The stream ended without headers: it is over, so RecvMsg returns at once
	// with its status (held under mu so that no SendMsg commits meanwhile).
	err = cs.RecvMsg(&emptypb.Empty{})
	if err == io.EOF {
		s.settleLocked(true) // an OK status with no message: the caller reads io.EOF
		return nil
	}
	stop()
	cancel()
	s.trailer = cs.Trailer()
	return newAttemptError(err, actx, s.ctx, s.trailer[PushbackKey]).mark()
}

// SendMsg sends m on the current attempt and, until the commit, keeps it for
// replay. See StreamClientInterceptor.
func (s *retryStream) SendMsg(m any) error {
	if s.committed.Load() {
		return s.cur.SendMsg(m)
	}
	s.mu.Lock()
	cs := s.cur
	if s.settled {
		s.mu.Unlock()
		if !s.committed.Load() {
			return io.EOF // failed, as grpc says it: the status comes from RecvMsg
		}
		return cs.SendMsg(m)
	}
	size := -1
	if pm, ok := m.(proto.Message); ok {
		size = proto.Size(pm)
	}
	if size < 0 || s.size+size > s.limit {
		s.settleLocked(true)
		s.mu.Unlock()
		s.closeDone() // the rego call may go on until cs's headers; the caller need not wait
		return cs.SendMsg(m)
	}
	s.buf = append(s.buf, m)
	s.size += size
	err := cs.SendMsg(m) // under mu: in order with a replay
	s.mu.Unlock()
	if err == io.EOF {
		// The attempt's stream ended: the attempt reports how, and the
		// message is replayed if the stream is retried.
		return nil
	}
	return err
}

// CloseSend closes the sending side of the current attempt and, until the
// commit, of every later one.
func (s *retryStream) CloseSend() error {
	if s.committed.Load() {
		return s.cur.CloseSend()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closeSent = true
	if s.cur != nil {
		s.cur.CloseSend()
	}
	return nil
}

// wait returns the committed stream, or the call's error, once known.
func (s *retryStream) wait() (grpc.ClientStream, error) {
	<-s.done
	if s.final != nil {
		return nil, s.final
	}
	return s.cur, nil
}

// RecvMsg waits for the commit, then receives from the committed stream.
func (s *retryStream) RecvMsg(m any) error {
	cs, err := s.wait()
	if err != nil {
		return err
	}
	if err := cs.RecvMsg(m); err != nil {
		s.cancelCur() // the stream is over: release its context
		return err
	}
	return nil
}

// Header waits for the commit, then returns the committed stream's header.
func (s *retryStream) Header() (metadata.MD, error) {
	cs, err := s.wait()
	if err != nil {
		return nil, err
	}
	return cs.Header()
}

// Trailer returns the committed stream's trailer, or the last failed
// attempt's once the call failed. Like grpc's, it is meant to be called
// after RecvMsg returned an error.
func (s *retryStream) Trailer() metadata.MD {
	if s.committed.Load() {
		return s.cur.Trailer()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.settled {
		return s.trailer
	}
	return nil
}

// Context returns the committed stream's context, or the caller's before
// the commit.
func (s *retryStream) Context() context.Context {
	if s.committed.Load() {
		return s.cur.Context()
	}
	return s.ctx
}
