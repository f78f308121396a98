package regogrpc

import (
	"testing"

	testgrpc "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/dynamicpb"
)

// TestMoveReply verifies that the caller's reply ends up equal to the
// winner's, whatever it held before, for generated messages (moved) and
// others (merged), unknown fields included.
func TestMoveReply(t *testing.T) {
	want := &testgrpc.SimpleResponse{Payload: &testgrpc.Payload{Body: []byte("ok")}, Username: "user"}
	want.ProtoReflect().SetUnknown([]byte{0xf8, 0x3e, 0x01}) // field 999, varint 1
	stale := func() *testgrpc.SimpleResponse {
		return &testgrpc.SimpleResponse{OauthScope: "stale", Payload: &testgrpc.Payload{Body: []byte("stale")}}
	}

	dst := stale()
	moveReply(dst, proto.Clone(want))
	if !proto.Equal(dst, want) {
		t.Errorf("generated: got %v, want %v", dst, want)
	}
	if allocs := testing.AllocsPerRun(100, func() { moveReply(dst, proto.Clone(want)) }) - testing.AllocsPerRun(100, func() { proto.Clone(want) }); allocs != 0 {
		t.Errorf("moving a generated reply allocates %v times, want 0", allocs)
	}

	md := want.ProtoReflect().Descriptor()
	ddst := dynamicpb.NewMessage(md)
	proto.Merge(ddst, stale())
	dsrc := dynamicpb.NewMessage(md)
	proto.Merge(dsrc, want)
	moveReply(ddst, dsrc)
	if !proto.Equal(ddst, dsrc) {
		t.Errorf("dynamic: got %v, want %v", ddst, dsrc)
	}
}
