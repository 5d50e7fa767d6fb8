package k8s

// Tests of the value codec: the same bytes as protobuf, the wire format, and fuzzing.

import (
	"bytes"
	"encoding/binary"
	"math"
	"reflect"
	"strings"
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

	// Other messages go through grpc's codec.
	other := &groupcachepb.GetRequest{Key: new("k"), XXX_unrecognized: []byte{0x18, 1}}
	got, err := ours.Marshal(other)
	if err != nil {
		t.Fatal(err)
	}
	if want, _ := std.Marshal(other); !bytes.Equal(got.Materialize(), want.Materialize()) {
		t.Errorf("a GetRequest with unknown fields: %x, grpc's proto codec writes %x", got.Materialize(), want.Materialize())
	}
}

// unknownFieldCases are messages around one value field (1) and one key field (2) with
// unknown fields, valid or not for protobuf, of every shape the value codec's skipping
// must judge as protobuf does.
var unknownFieldCases = []struct {
	name   string
	wire   []byte
	accept bool // by protobuf
}{
	{"a group", []byte{0x0a, 1, 'v', 0x1b, 0x08, 0x01, 0x1c, 0x12, 1, 'k'}, true},
	{"nested groups", []byte{0x1b, 0x23, 0x22, 1, 'x', 0x24, 0x1c, 0x0a, 1, 'v'}, true},
	{"an empty group", []byte{0x1b, 0x1c, 0x0a, 1, 'v'}, true},
	{"a group with a field number above 2^29-1 inside", append([]byte{0x1b, 0x80, 0x80, 0x80, 0x80, 0x02, 0x00}, 0x1c), true},
	{"field 1 as a group", []byte{0x0b, 0x0c, 0x12, 1, 'k'}, true},
	{"a group without its end", []byte{0x1b, 0x08, 0x01}, false},
	{"a group ended as another group", []byte{0x1b, 0x24}, false},
	{"the end of a group that did not start", []byte{0x0a, 1, 'v', 0x1c}, false},
	{"field number 0", []byte{0x00, 0x01}, false},
	{"field number 0, length-delimited", []byte{0x02, 0x00}, false},
	{"field number 2^29-1", []byte{0xf8, 0xff, 0xff, 0xff, 0x0f, 0x01}, true},
	{"field number 2^29", []byte{0x80, 0x80, 0x80, 0x80, 0x10, 0x01}, false},
	{"field number 2^32", []byte{0x80, 0x80, 0x80, 0x80, 0x80, 0x02, 0x01}, false},
	{"wire type 6", []byte{0x1e, 0x01}, false},
	{"wire type 7", []byte{0x1f, 0x01}, false},
	{"groups nested 10001 deep", nestedGroups(10001), true},
	{"groups nested 10002 deep", nestedGroups(10002), false},
}

// nestedGroups returns field 3 as n groups nested in each other.
func nestedGroups(n int) []byte {
	return append(bytes.Repeat([]byte{0x1b}, n), bytes.Repeat([]byte{0x1c}, n)...)
}

// TestCodecSkipsUnknownFieldsAsProtobufDoes: the value codec accepts and refuses the
// messages protobuf accepts and refuses, and reads the same fields from them, for
// GetRequest and GetResponse alike. It used to refuse groups (wire types 3 and 4), and
// to accept field number 0 and numbers above 2^29-1.
func TestCodecSkipsUnknownFieldsAsProtobufDoes(t *testing.T) {
	std, ours := encoding.GetCodecV2("proto"), newValueCodec()
	for _, tc := range unknownFieldCases {
		t.Run(tc.name, func(t *testing.T) {
			for _, msg := range []struct{ ours, std any }{
				{new(groupcachepb.GetRequest), new(groupcachepb.GetRequest)},
				{new(groupcachepb.GetResponse), new(groupcachepb.GetResponse)},
			} {
				err := ours.Unmarshal(splitAt(tc.wire, uint16(len(tc.wire)/2)), msg.ours)
				stdErr := std.Unmarshal(mem.BufferSlice{mem.SliceBuffer(tc.wire)}, msg.std)
				if (stdErr == nil) != tc.accept {
					t.Fatalf("%T: grpc's proto codec: %v, the case says accept=%v", msg.std, stdErr, tc.accept)
				}
				if (err == nil) != tc.accept {
					t.Errorf("%T: %v, want accept=%v as protobuf", msg.ours, err, tc.accept)
				}
				if err != nil || stdErr != nil {
					continue
				}
				if a, ok := msg.ours.(*groupcachepb.GetRequest); ok && !sameRequest(a, msg.std.(*groupcachepb.GetRequest)) {
					t.Errorf("read %v, grpc's proto codec reads %v", a, msg.std)
				}
				if a, ok := msg.ours.(*groupcachepb.GetResponse); ok && !sameResponse(a, msg.std.(*groupcachepb.GetResponse)) {
					t.Errorf("read %v, grpc's proto codec reads %v", a, msg.std)
				}
			}
		})
	}
}

// FuzzRequestCodec: for any GetRequest (group and key each set or not), the value codec
// writes exactly the bytes grpc's proto codec writes, and reads them back to the same
// request, also when they arrive split across two buffers.
func FuzzRequestCodec(f *testing.F) {
	f.Add("thumbnails", "user/42", uint8(3), uint16(4))
	f.Add("", "", uint8(3), uint16(0))                         // both set and empty
	f.Add("g", "", uint8(1), uint16(1))                        // no key, as proto3 senders leave it off
	f.Add("", strings.Repeat("k", 300), uint8(2), uint16(200)) // two-byte length
	std, ours := encoding.GetCodecV2("proto"), newValueCodec()
	f.Fuzz(func(t *testing.T, group, key string, set uint8, split uint16) {
		var req groupcachepb.GetRequest
		if set&1 != 0 {
			req.Group = &group
		}
		if set&2 != 0 {
			req.Key = &key
		}
		want, err := std.Marshal(&req)
		if err != nil {
			t.Fatal(err)
		}
		got, err := ours.Marshal(&req)
		if err != nil {
			t.Fatal(err)
		}
		wire := got.Materialize()
		if !bytes.Equal(wire, want.Materialize()) {
			t.Fatalf("Marshal(%v) = %x, grpc's proto codec writes %x", &req, wire, want.Materialize())
		}
		var back groupcachepb.GetRequest
		if err := ours.Unmarshal(splitAt(wire, split), &back); err != nil {
			t.Fatalf("Unmarshal of its own %x: %v", wire, err)
		}
		if !sameRequest(&back, &req) {
			t.Fatalf("round trip of %v gave %v", &req, &back)
		}
	})
}

// FuzzRequestCodecDecode feeds arbitrary bytes to the value codec's reader of requests: it
// never panics, and whenever both it and grpc's proto codec accept the bytes, they read
// the same group and key (presence included).
func FuzzRequestCodecDecode(f *testing.F) {
	for _, seed := range [][]byte{
		{},
		{0x0a, 1, 'g', 0x12, 1, 'k'},
		{0x12, 0},
		{0x0a, 1, 'a', 0x0a, 1, 'b'}, // the last group wins
		{0x0a, 1, 'g', 0x18, 0x96, 0x01, 0x22, 3, 'x', 'y', 'z', 0x2d, 1, 2, 3, 4, 0x31, 1, 2, 3, 4, 5, 6, 7, 8},
		{0x0a, 9, 'x'},
		{0x0f},
		{0x08, 0x01},       // field 1 with the wrong wire type
		{0x8a, 0x00, 0x00}, // the group's tag in a non-minimal varint
	} {
		f.Add(seed, uint16(len(seed)/2))
	}
	for _, seed := range unknownFieldCases {
		f.Add(seed.wire, uint16(len(seed.wire)/2))
	}
	f.Fuzz(func(t *testing.T, wire []byte, split uint16) {
		var got, want groupcachepb.GetRequest
		if decodeBoth(t, wire, split, &got, &want) && !sameRequest(&got, &want) {
			t.Fatalf("%x: read %v, grpc's proto codec reads %v", wire, &got, &want)
		}
	})
}

// decodeBoth decodes wire into got with the value codec (split in two buffers at split)
// and into want with grpc's proto codec. It fails t unless both accept it or both refuse
// it with a message, and reports whether both accepted it.
func decodeBoth(t *testing.T, wire []byte, split uint16, got, want any) bool {
	t.Helper()
	err := newValueCodec().Unmarshal(splitAt(wire, split), got)
	stdErr := encoding.GetCodecV2("proto").Unmarshal(mem.BufferSlice{mem.SliceBuffer(wire)}, want)
	switch {
	case (err == nil) != (stdErr == nil):
		t.Fatalf("%x: our error %v, grpc's proto codec's %v", wire, err, stdErr)
	case err != nil && err.Error() == "":
		t.Fatal("empty error message")
	}
	return err == nil
}

// sameRequest reports whether a and b have the same group and key, presence included.
func sameRequest(a, b *groupcachepb.GetRequest) bool {
	same := func(x, y *string) bool { return (x == nil) == (y == nil) && (x == nil || *x == *y) }
	return same(a.Group, b.Group) && same(a.Key, b.Key)
}

// FuzzValueCodec: for any GetResponse (value and minute_qps each set or not), the value
// codec writes exactly the bytes grpc's proto codec writes, and reads them back to the
// same message, also when the bytes arrive split across two buffers, as grpc hands over
// a message received in several frames.
func FuzzValueCodec(f *testing.F) {
	f.Add([]byte("value of k\xff"), 12.5, uint8(3), uint16(5))
	f.Add([]byte{}, 0.0, uint8(1), uint16(0))                               // empty value, set
	f.Add([]byte(nil), math.Inf(-1), uint8(2), uint16(1))                   // qps only
	f.Add([]byte(nil), 0.0, uint8(0), uint16(0))                            // nothing set
	f.Add(bytes.Repeat([]byte{0x0a}, 300), math.NaN(), uint8(3), uint16(2)) // two-byte length
	std, ours := encoding.GetCodecV2("proto"), newValueCodec()
	f.Fuzz(func(t *testing.T, value []byte, qps float64, set uint8, split uint16) {
		var msg groupcachepb.GetResponse
		if set&1 != 0 {
			msg.Value = append([]byte{}, value...) // set, possibly empty
		}
		if set&2 != 0 {
			msg.MinuteQps = &qps
		}
		want, err := std.Marshal(&msg)
		if err != nil {
			t.Fatal(err)
		}
		got, err := ours.Marshal(&msg)
		if err != nil {
			t.Fatal(err)
		}
		wire := got.Materialize()
		if !bytes.Equal(wire, want.Materialize()) {
			t.Fatalf("Marshal(%v) = %x, grpc's proto codec writes %x", &msg, wire, want.Materialize())
		}
		var back groupcachepb.GetResponse
		if err := ours.Unmarshal(splitAt(wire, split), &back); err != nil {
			t.Fatalf("Unmarshal of its own %x: %v", wire, err)
		}
		if !sameResponse(&back, &msg) {
			t.Fatalf("round trip of %v gave %v", &msg, &back)
		}
	})
}

// FuzzValueCodecDecode feeds arbitrary bytes to the value codec's reader: it never panics,
// and whenever both it and grpc's proto codec accept the bytes, they read the same value
// and minute_qps (presence included). What it accepts it writes back as the proto codec
// would.
func FuzzValueCodecDecode(f *testing.F) {
	for _, seed := range [][]byte{
		{},
		{0x0a, 2, 'h', 'i'},
		{0x0a, 0},
		{0x11, 0, 0, 0, 0, 0, 0, 0x29, 0x40},
		{0x0a, 1, 'a', 0x0a, 1, 'b'}, // the last value wins
		append([]byte{0x0a, 2, 'h', 'i', 0x18, 0x96, 0x01, 0x22, 3, 'x', 'y', 'z', 0x2d, 1, 2, 3, 4}, 0x31, 1, 2, 3, 4, 5, 6, 7, 8),
		{0x0a, 9, 'x'},
		{0x11, 1, 2},
		{0x0f},
		{0x08, 0x01},       // field 1 with the wrong wire type
		{0x8a, 0x00, 0x00}, // the value's tag in a non-minimal varint
	} {
		f.Add(seed, uint16(len(seed)/2))
	}
	for _, seed := range unknownFieldCases {
		f.Add(seed.wire, uint16(len(seed.wire)/2))
	}
	std, ours := encoding.GetCodecV2("proto"), newValueCodec()
	f.Fuzz(func(t *testing.T, wire []byte, split uint16) {
		var got, want groupcachepb.GetResponse
		switch {
		case !decodeBoth(t, wire, split, &got, &want):
			return
		case !sameResponse(&got, &want):
			t.Fatalf("%x: read %v, grpc's proto codec reads %v", wire, &got, &want)
		}
		again, err := ours.Marshal(&got)
		if err != nil {
			t.Fatal(err)
		}
		canonical, err := std.Marshal(&got)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(again.Materialize(), canonical.Materialize()) {
			t.Fatalf("%x: writes %v back as %x, grpc's proto codec as %x", wire, &got, again.Materialize(), canonical.Materialize())
		}
	})
}

// splitAt hands b over as two buffers, split at n modulo its length.
func splitAt(b []byte, n uint16) mem.BufferSlice {
	i := 0
	if len(b) > 0 {
		i = int(n) % (len(b) + 1)
	}
	return mem.BufferSlice{mem.SliceBuffer(b[:i]), mem.SliceBuffer(b[i:])}
}

// sameResponse reports whether a and b carry the same value and minute_qps, set or not
// (a NaN equals a NaN of the same bits).
func sameResponse(a, b *groupcachepb.GetResponse) bool {
	if (a.Value == nil) != (b.Value == nil) || !bytes.Equal(a.Value, b.Value) {
		return false
	}
	if a.MinuteQps == nil || b.MinuteQps == nil {
		return a.MinuteQps == nil && b.MinuteQps == nil
	}
	return math.Float64bits(*a.MinuteQps) == math.Float64bits(*b.MinuteQps)
}

// protoField appends a length-delimited protobuf field (wire type 2).
func protoField(b []byte, field int, data string) []byte {
	b = binary.AppendUvarint(b, uint64(field<<3|2))
	b = binary.AppendUvarint(b, uint64(len(data)))
	return append(b, data...)
}

// protoDouble appends a fixed64 protobuf field (wire type 1) holding f.
func protoDouble(b []byte, field int, f float64) []byte {
	b = binary.AppendUvarint(b, uint64(field<<3|1))
	return binary.LittleEndian.AppendUint64(b, math.Float64bits(f))
}

// TestCodecWireFormat pins the bytes grpc's registered "proto" codec produces for
// groupcache's legacy messages: grpc-go once dropped support for such messages
// (grpc-go#6919, restored in #6965), and the fork compatibility depends on the format.
func TestCodecWireFormat(t *testing.T) {
	codec := encoding.GetCodecV2("proto")
	if codec == nil {
		t.Fatal(`no "proto" codec registered`)
	}
	longKey := strings.Repeat("x", 300) // a two-byte length
	tests := []struct {
		name     string
		msg      any
		wire     []byte
		newEmpty func() any
	}{
		{
			name:     "request with an empty key (golden)",
			msg:      getRequest("grp", ""),
			wire:     []byte{0x0a, 0x03, 'g', 'r', 'p', 0x12, 0x00},
			newEmpty: func() any { return new(groupcachepb.GetRequest) },
		},
		{
			name:     "request with a key that is not UTF-8",
			msg:      getRequest("grp", "\xff\xfe\x00k"),
			wire:     protoField(protoField(nil, 1, "grp"), 2, "\xff\xfe\x00k"),
			newEmpty: func() any { return new(groupcachepb.GetRequest) },
		},
		{
			name:     "request with a long key",
			msg:      getRequest("grp", longKey),
			wire:     protoField(protoField(nil, 1, "grp"), 2, longKey),
			newEmpty: func() any { return new(groupcachepb.GetRequest) },
		},
		{
			name:     "response with a value",
			msg:      &groupcachepb.GetResponse{Value: []byte("\x00\xffvalue")},
			wire:     protoField(nil, 1, "\x00\xffvalue"),
			newEmpty: func() any { return new(groupcachepb.GetResponse) },
		},
		{
			name:     "response with a value and minute_qps",
			msg:      &groupcachepb.GetResponse{Value: []byte("v"), MinuteQps: new(2.5)},
			wire:     protoDouble(protoField(nil, 1, "v"), 2, 2.5),
			newEmpty: func() any { return new(groupcachepb.GetResponse) },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data, err := codec.Marshal(tt.msg)
			if err != nil {
				t.Fatalf("Marshal: %v", err)
			}
			if got := data.Materialize(); !bytes.Equal(got, tt.wire) {
				t.Errorf("Marshal = %x, want %x", got, tt.wire)
			}
			data.Free()

			got := tt.newEmpty()
			if err := codec.Unmarshal(mem.BufferSlice{mem.SliceBuffer(tt.wire)}, got); err != nil {
				t.Fatalf("Unmarshal(%x): %v", tt.wire, err)
			}
			// DeepEqual also catches fields left in XXX_unrecognized.
			if !reflect.DeepEqual(got, tt.msg) {
				t.Errorf("Unmarshal(%x) = %v, want %v", tt.wire, got, tt.msg)
			}
		})
	}
}
