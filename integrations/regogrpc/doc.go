// Package regogrpc runs gRPC client calls under rego policies: unary and
// stream client interceptors that retry, hedge and time out each call as the
// policy of its method's key says, and Classifier, which turns gRPC status
// codes into rego verdicts.
//
//	exec, err := rego.NewExecutor(
//		regogrpc.WithGRPCClassifier(),
//		engine.WithProvider(controlplane.NewStatic(map[string]policy.Policy{
//			"pkg.v1.UserService.*": {Retry: policy.Retry{MaxAttempts: 3}, Classifier: regogrpc.ClassifierName},
//		})),
//	)
//	conn, err := grpc.NewClient(target, append(regogrpc.DialOptions(exec), creds)...)
//
// # Model
//
// One RPC is one rego call, keyed by its method (DefaultKey:
// "/pkg.v1.UserService/GetUser" is the key "pkg.v1.UserService.GetUser";
// the pattern "pkg.v1.UserService.*" selects every method of the service).
// Unary calls are retried, hedged and timed out as the policy says (see
// UnaryClientInterceptor); streams are retried until they are committed, as
// gRFC A6 does (see StreamClientInterceptor). grpc's own retries are turned
// off by DialOptions (grpc.WithDisableRetry), so that they never multiply
// rego's; the policy takes the place of a service config's retryPolicy (and
// adds hedging, which grpc-go does not implement, budgets and timelines).
//
// Each attempt's failure reaches the classifier with what only the
// interceptor knows: the server's pushback (the grpc-retry-pushback-ms
// trailer of gRFC A6) and whether the attempt's own timeout ended it. Select
// Classifier with "classifier": "grpc" (WithGRPCClassifier registers it);
// under classify.Default the interceptors' marks (classify.Permanent,
// classify.RetryAfter) give the same decisions with coarser reasons.
//
// # Ownership
//
// Interceptors are immutable once built. A unary call's state is read-only
// while its attempts run; each attempt owns its reply message, header,
// trailer and peer until the call has ended, when the interceptor reads the
// deciding attempt's. Hedges that lost may still be running (cancelled) after
// the call returned; they write only into their own attempt. A stream's
// retry state belongs to the stream (a mutex guards it until the commit); its
// rego call runs in one goroutine per stream that ends at the commit or at
// the stream's failure.
package regogrpc
