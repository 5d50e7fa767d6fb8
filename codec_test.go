package k8s

import (
	"bytes"
	"testing"

	"github.com/golang/groupcache/groupcachepb"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/mem"
)

// TestValueCodecMatchesProto: the value codec writes exactly what grpc's proto codec writes
// and reads what it writes (and unknown fields it skips), for every shape of GetResponse;
// other messages go through grpc's codec unchanged.
func TestValueCodecMatchesProto(t *testing.T) {
	std, ours := encoding.GetCodecV2("proto"), newValueCodec()
	qps := 12.5
	cases := map[string]*groupcachepb.GetResponse{
		"empty":         {},
		"empty value":   {Value: []byte{}},
		"value":         {Value: []byte("value of k\xff")},
		"value and qps": {Value: bytes.Repeat([]byte{7}, 300<<10), MinuteQps: &qps},
		"qps only":      {MinuteQps: &qps},
	}
	for name, msg := range cases {
		t.Run(name, func(t *testing.T) {
			want, err := std.Marshal(msg)
			if err != nil {
				t.Fatal(err)
			}
			got, err := ours.Marshal(msg)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got.Materialize(), want.Materialize()) {
				t.Fatalf("wire bytes differ from grpc's proto codec")
			}
			var back groupcachepb.GetResponse
			if err := ours.Unmarshal(want, &back); err != nil {
				t.Fatal(err)
			}
			again, err := std.Marshal(&back)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(again.Materialize(), want.Materialize()) || (msg.MinuteQps == nil) != (back.MinuteQps == nil) {
				t.Errorf("read back %v, want %v", &back, msg)
			}
		})
	}

	// Unknown fields (a newer peer), in every wire type, are skipped.
	withUnknown := append([]byte{0x0a, 2, 'h', 'i'},
		0x18, 0x96, 0x01, // field 3 varint
		0x22, 3, 'x', 'y', 'z', // field 4 bytes
		0x2d, 1, 2, 3, 4, // field 5 fixed32
		0x31, 1, 2, 3, 4, 5, 6, 7, 8) // field 6 fixed64
	var m groupcachepb.GetResponse
	if err := ours.Unmarshal(mem.BufferSlice{mem.SliceBuffer(withUnknown)}, &m); err != nil || string(m.Value) != "hi" {
		t.Errorf("with unknown fields: value %q, err %v", m.Value, err)
	}
	for name, bad := range map[string][]byte{
		"value longer than the message": {0x0a, 9, 'x'},
		"truncated qps":                 {0x11, 1, 2},
		"bad wire type":                 {0x0f},
	} {
		if err := ours.Unmarshal(mem.BufferSlice{mem.SliceBuffer(bad)}, &m); err == nil {
			t.Errorf("%s: no error", name)
		}
	}

	// A GetRequest goes through grpc's codec.
	key, group := "k", "g"
	req := &groupcachepb.GetRequest{Key: &key, Group: &group}
	got, err := ours.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := std.Marshal(req)
	if !bytes.Equal(got.Materialize(), want.Materialize()) {
		t.Errorf("GetRequest bytes differ")
	}
}
