package policy_test

import (
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/regoresilience/rego/policy"
)

func ExampleParseKey() {
	k := policy.ParseKey("db.Users.Query")
	fmt.Printf("%q %q %v\n", k.Namespace, k.Name, k.Validate())

	// Keys name operations, not requests: an ID in the key would give every
	// user their own worker, histogram and budget.
	err := policy.ParseKey("users.Get/123456").Validate()
	fmt.Println(errors.Is(err, policy.ErrHighCardinalityKey))
	fmt.Println(err)
	// Output:
	// "db" "Users.Query" <nil>
	// true
	// policy: high-cardinality key "users.Get/123456": contains '/' (a URL or file path? use the route template's operation name)
}

func ExampleParseDocument() {
	set, err := policy.ParseDocument([]byte(`{"policies": {
		"users.GetUser": {"retry": {"max_attempts": 4, "attempt_timeout": "300ms"}, "timeout": "1s"},
		"users.*":       {"hedge": {"max_hedges": 1, "delay": "50ms", "percentile": 95}},
		"*":             {"retry": {"max_attempts": 2}}
	}}`))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(set.Patterns())

	// Mistakes are reported together, each naming the pattern and the field.
	_, err = policy.ParseDocument([]byte(`{"policies": {
		"svc.Op": {"retry": {"max_attempts": 0, "backoff": "1s"}},
		"a.*.b":  {}
	}}`))
	fmt.Println(err)
	fmt.Println(errors.Is(err, policy.ErrInvalidPolicy))
	// Output:
	// [* users.* users.GetUser]
	// policies["svc.Op"].retry.max_attempts: must be >= 1
	// policies["svc.Op"].retry: unknown field "backoff" (known: "max_attempts", "initial_backoff", "max_backoff", "multiplier", "jitter", "attempt_timeout", "max_retry_after")
	// policies: invalid pattern "a.*.b": a wildcard must be the whole name ("ns.*")
	// true
}

func ExampleSet_Resolve() {
	set, err := policy.NewSet(map[string]policy.Policy{
		"users.GetUser": {Retry: policy.Retry{MaxAttempts: 5}},
		"users.*":       {Timeout: 2 * time.Second},
		"*":             {Retry: policy.Retry{MaxAttempts: 1}},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, key := range []string{"users.GetUser", "users.ListUsers", "billing.Charge"} {
		p, pattern, ok := set.Resolve(policy.ParseKey(key))
		fmt.Printf("%-15s -> %-13s ok=%v attempts=%d timeout=%v\n",
			key, pattern, ok, p.Retry.MaxAttempts, p.Timeout)
	}

	// Without a "*" entry, unmatched keys fall through to the engine default.
	empty, _ := policy.NewSet(nil)
	_, _, ok := empty.Resolve(policy.ParseKey("billing.Charge"))
	fmt.Println(ok)
	// Output:
	// users.GetUser   -> users.GetUser ok=true attempts=5 timeout=0s
	// users.ListUsers -> users.*       ok=true attempts=3 timeout=2s
	// billing.Charge  -> *             ok=true attempts=1 timeout=0s
	// false
}

func ExamplePolicy_Normalize() {
	p := policy.Policy{
		Retry:   policy.Retry{MaxAttempts: 50, AttemptTimeout: 5 * time.Second},
		Timeout: time.Second,
	}.Normalize()
	fmt.Println(p.Retry.MaxAttempts, p.Retry.InitialBackoff, p.Retry.MaxBackoff,
		p.Retry.Multiplier, p.Retry.Jitter, p.Retry.AttemptTimeout)
	// Output:
	// 10 100ms 5s 2 full 1s
}

func ExampleMarshalDocument() {
	set, _ := policy.NewSet(map[string]policy.Policy{
		"users.*": {Retry: policy.Retry{MaxAttempts: 4}, Hedge: policy.Hedge{MaxHedges: 1, Delay: 50 * time.Millisecond}},
	})
	out, _ := policy.MarshalDocument(set)
	fmt.Print(string(out))
	// Output:
	// {
	//   "policies": {
	//     "users.*": {
	//       "retry": {
	//         "max_attempts": 4,
	//         "initial_backoff": "100ms",
	//         "max_backoff": "5s",
	//         "multiplier": 2,
	//         "jitter": "full",
	//         "max_retry_after": "30s"
	//       },
	//       "hedge": {
	//         "max_hedges": 1,
	//         "delay": "50ms"
	//       }
	//     }
	//   }
	// }
}

// A document parsed, then a key resolved against it: the most specific
// pattern wins, and the policy comes back with its defaults filled in.
func ExampleParseDocument_resolve() {
	data := []byte(`{"policies": {
		"users.GetUser": {"retry": {"max_attempts": 4}},
		"users.*":       {"hedge": {"max_hedges": 1, "delay": "50ms", "percentile": 95}},
		"*":             {"retry": {"max_attempts": 2}}
	}}`)

	set, err := policy.ParseDocument(data) // strict: every problem reported, none guessed
	if err != nil {
		log.Fatal(err) // e.g. policies["users.GetUser"].retry.max_attempts: must be >= 1
	}
	p, pattern, ok := set.Resolve(policy.ParseKey("users.ListUsers"))
	// p is normalized (defaults filled in), pattern == "users.*", ok == true
	fmt.Println(pattern, ok, p.Retry.MaxAttempts, p.Hedge.Delay, p.Hedge.MinSamples)
	// Output: users.* true 3 50ms 100
}
