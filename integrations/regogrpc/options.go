package regogrpc

import (
	"google.golang.org/grpc"

	"github.com/regoresilience/rego"
	"github.com/regoresilience/rego/engine"
)

// DefaultRetryBufferSize is how many bytes of client messages a stream keeps
// for replay before it is committed (256 KiB, grpc-go's default
// perRPCBufferSize): past it the stream commits and is no longer retried.
const DefaultRetryBufferSize = 256 << 10

// Option configures an interceptor.
type Option func(*config)

// config is an interceptor's configuration, read-only once the interceptor
// is built.
type config struct {
	keyFunc    func(fullMethod string) rego.Key // nil: DefaultKey through keys
	keys       keyCache
	bufferSize int
}

func newConfig(opts []Option) *config {
	c := &config{bufferSize: DefaultRetryBufferSize}
	for _, o := range opts {
		if o != nil {
			o(c)
		}
	}
	return c
}

func (c *config) key(fullMethod string) rego.Key {
	if c.keyFunc != nil {
		return c.keyFunc(fullMethod)
	}
	return c.keys.key(fullMethod)
}

// WithKeyFunc sets how a full method name ("/pkg.v1.UserService/GetUser") is
// mapped to its policy key (default DefaultKey). Keys must be
// low-cardinality: one per method or per group of methods. A nil f keeps the
// default. The interceptor calls f on every call; DefaultKey is memoized.
func WithKeyFunc(f func(fullMethod string) rego.Key) Option {
	return func(c *config) { c.keyFunc = f }
}

// WithRetryBufferSize sets how many bytes of client messages (proto.Size) a
// stream buffers for replay before it commits (default
// DefaultRetryBufferSize). A stream whose messages need more is committed
// when the message that overflows is sent, and is not retried afterwards. A
// size <= 0 commits every stream when it sends its first message.
func WithRetryBufferSize(bytes int) Option {
	return func(c *config) { c.bufferSize = bytes }
}

// DialOptions returns the dial options that put a client connection under
// rego: both interceptors (chained, so other interceptors can be added) and
// grpc.WithDisableRetry(), so that grpc's own retries, configured by a
// service config, never multiply rego's. A nil exec means the rego
// package's default executor, looked up at each call.
//
//	conn, err := grpc.NewClient(target, append(regogrpc.DialOptions(exec),
//		grpc.WithTransportCredentials(creds))...)
//
// Interceptors chained after these run once per attempt; those chained
// before them (given earlier to grpc.WithChainUnaryInterceptor) run once per
// call.
func DialOptions(exec *engine.Engine, opts ...Option) []grpc.DialOption {
	return []grpc.DialOption{
		grpc.WithChainUnaryInterceptor(UnaryClientInterceptor(exec, opts...)),
		grpc.WithChainStreamInterceptor(StreamClientInterceptor(exec, opts...)),
		grpc.WithDisableRetry(),
	}
}
