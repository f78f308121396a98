package observe_test

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/regoresilience/rego/observe"
	"github.com/regoresilience/rego/policy"
)

// recorder appends "name:callback" to a shared log.
type recorder struct {
	name string
	log  *[]string
}

func (r recorder) add(s string) { *r.log = append(*r.log, r.name+":"+s) }
func (r recorder) OnStart(_ context.Context, k policy.Key) {
	r.add("start " + k.String())
}
func (r recorder) OnAttempt(_ context.Context, _ policy.Key, rec observe.AttemptRecord) {
	r.add(fmt.Sprintf("attempt %d", rec.Index))
}
func (r recorder) OnSuccess(context.Context, *observe.Timeline) { r.add("success") }
func (r recorder) OnFailure(context.Context, *observe.Timeline) { r.add("failure") }

// TestFanoutOrder verifies that Fanout calls its observers in the order
// given, for every callback, skipping nils and flattening nested fanouts.
func TestFanoutOrder(t *testing.T) {
	var log []string
	a, b, c := recorder{"a", &log}, recorder{"b", &log}, recorder{"c", &log}
	f := observe.Fanout(a, nil, observe.Fanout(b, nil, c))
	ctx := context.Background()
	k := policy.Key{Namespace: "svc", Name: "Op"}
	f.OnStart(ctx, k)
	f.OnAttempt(ctx, k, observe.AttemptRecord{Index: 0})
	f.OnSuccess(ctx, &observe.Timeline{})
	f.OnFailure(ctx, &observe.Timeline{})
	want := []string{
		"a:start svc.Op", "b:start svc.Op", "c:start svc.Op",
		"a:attempt 0", "b:attempt 0", "c:attempt 0",
		"a:success", "b:success", "c:success",
		"a:failure", "b:failure", "c:failure",
	}
	if !slices.Equal(log, want) {
		t.Errorf("log = %v\nwant %v", log, want)
	}
}

func TestFanoutDegenerate(t *testing.T) {
	if observe.Fanout() != nil || observe.Fanout(nil, nil) != nil {
		t.Error("Fanout of nothing should be nil")
	}
	var log []string
	a := recorder{"a", &log}
	if got := observe.Fanout(nil, a); got != observe.Observer(a) {
		t.Errorf("Fanout of one = %#v, want the observer itself", got)
	}
}

// TestFanoutCopiesArgs verifies that reusing the argument slice after
// Fanout returns does not change the fanout.
func TestFanoutCopiesArgs(t *testing.T) {
	var log []string
	obs := []observe.Observer{recorder{"a", &log}, recorder{"b", &log}}
	f := observe.Fanout(obs...)
	obs[0] = recorder{"x", &log}
	f.OnSuccess(context.Background(), nil)
	if !slices.Equal(log, []string{"a:success", "b:success"}) {
		t.Errorf("log = %v", log)
	}
}

type onlyFailures struct {
	observe.Base
	n int
}

func (o *onlyFailures) OnFailure(context.Context, *observe.Timeline) { o.n++ }

func TestBase(t *testing.T) {
	o := &onlyFailures{}
	var obs observe.Observer = o
	ctx := context.Background()
	obs.OnStart(ctx, policy.Key{})
	obs.OnAttempt(ctx, policy.Key{}, observe.AttemptRecord{})
	obs.OnSuccess(ctx, nil)
	obs.OnFailure(ctx, nil)
	if o.n != 1 {
		t.Errorf("n = %d", o.n)
	}
}
