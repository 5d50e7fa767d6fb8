package k8s

// The value codec: GetResponse in protobuf's wire format, written by reference and read
// with one copy.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"

	"github.com/golang/groupcache/groupcachepb"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/mem"
)

// valueCodec is grpc's "proto" codec, except for GetResponse, the message that carries
// cached values, which it writes and reads by hand in the same wire format (field 1,
// value, bytes; field 2, minute_qps, double). grpc's codec would copy a value into a
// buffer from its pool, clearing the whole pool tier first (1 MiB for a 256 KiB value),
// and the receiver would join the frames into another cleared buffer and copy the value
// out again. Here the sender hands the value to grpc by reference and the receiver
// copies it once, into a slice of its exact size.
type valueCodec struct{ proto encoding.CodecV2 }

func newValueCodec() valueCodec { return valueCodec{proto: encoding.GetCodecV2("proto")} }

// Name is "proto": on the wire nothing changes, for peers and for interceptors.
func (valueCodec) Name() string { return "proto" }

const (
	valueTag = 1<<3 | 2 // GetResponse field 1, length-delimited
	qpsTag   = 2<<3 | 1 // GetResponse field 2, 64-bit
	groupTag = 1<<3 | 2 // GetRequest field 1, length-delimited
	keyTag   = 2<<3 | 2 // GetRequest field 2, length-delimited
)

// Marshal writes a GetResponse without copying its value; grpc only reads the buffers it
// gets. A GetRequest it writes into one buffer of its exact size. Any other message goes
// to grpc's codec.
func (c valueCodec) Marshal(v any) (mem.BufferSlice, error) {
	if req, ok := v.(*groupcachepb.GetRequest); ok && len(req.XXX_unrecognized) == 0 {
		return mem.BufferSlice{mem.SliceBuffer(marshalRequest(req))}, nil
	}
	m, ok := v.(*groupcachepb.GetResponse)
	if !ok || len(m.XXX_unrecognized) > 0 {
		return c.proto.Marshal(v)
	}
	var out mem.BufferSlice
	if m.Value != nil {
		head := binary.AppendUvarint([]byte{valueTag}, uint64(len(m.Value)))
		out = append(out, mem.SliceBuffer(head))
		if len(m.Value) > 0 {
			out = append(out, mem.SliceBuffer(m.Value))
		}
	}
	if m.MinuteQps != nil {
		out = append(out, mem.SliceBuffer(binary.LittleEndian.AppendUint64([]byte{qpsTag}, math.Float64bits(*m.MinuteQps))))
	}
	return out, nil
}

// Unmarshal reads a GetResponse, copying the value once, and a GetRequest; any other
// message goes to grpc's codec. Unknown fields are skipped, as protobuf does.
func (c valueCodec) Unmarshal(data mem.BufferSlice, v any) error {
	if req, ok := v.(*groupcachepb.GetRequest); ok {
		return unmarshalRequest(data, req)
	}
	m, ok := v.(*groupcachepb.GetResponse)
	if !ok {
		return c.proto.Unmarshal(data, v)
	}
	m.Reset()
	r := data.Reader()
	defer r.Close()
	for r.Remaining() > 0 {
		tag, err := binary.ReadUvarint(r)
		if err != nil {
			return fmt.Errorf("groupcache-k8s: decoding GetResponse: %w", err)
		}
		switch {
		case tag == valueTag:
			n, err := binary.ReadUvarint(r)
			if err != nil || n > uint64(r.Remaining()) {
				return errors.New("groupcache-k8s: decoding GetResponse: value longer than the message")
			}
			m.Value = make([]byte, n)
			if _, err := io.ReadFull(r, m.Value); err != nil {
				return fmt.Errorf("groupcache-k8s: decoding GetResponse: %w", err)
			}
		case tag == qpsTag:
			var b [8]byte
			if _, err := io.ReadFull(r, b[:]); err != nil {
				return fmt.Errorf("groupcache-k8s: decoding GetResponse: %w", err)
			}
			qps := math.Float64frombits(binary.LittleEndian.Uint64(b[:]))
			m.MinuteQps = &qps
		default:
			if err := skipField(r, tag); err != nil {
				return fmt.Errorf("groupcache-k8s: decoding GetResponse: field %d: %w", tag>>3, err)
			}
		}
	}
	return nil
}

// skipField skips the payload of a field this codec does not read.
func skipField(r *mem.Reader, tag uint64) error {
	var n uint64
	switch tag & 7 {
	case 0: // varint
		_, err := binary.ReadUvarint(r)
		return err
	case 1: // 64-bit
		n = 8
	case 2: // length-delimited
		var err error
		if n, err = binary.ReadUvarint(r); err != nil {
			return err
		}
	case 5: // 32-bit
		n = 4
	default:
		return fmt.Errorf("unsupported wire type %d", tag&7)
	}
	if n > uint64(r.Remaining()) {
		return io.ErrUnexpectedEOF
	}
	_, err := io.CopyN(io.Discard, r, int64(n))
	return err
}

// marshalRequest writes a GetRequest as protobuf does: the fields that are set, in order.
func marshalRequest(m *groupcachepb.GetRequest) []byte {
	n := 0
	for _, f := range [...]*string{m.Group, m.Key} {
		if f != nil {
			n += 1 + binary.MaxVarintLen64 + len(*f)
		}
	}
	b := make([]byte, 0, n)
	if m.Group != nil {
		b = append(binary.AppendUvarint(append(b, groupTag), uint64(len(*m.Group))), *m.Group...)
	}
	if m.Key != nil {
		b = append(binary.AppendUvarint(append(b, keyTag), uint64(len(*m.Key))), *m.Key...)
	}
	return b
}

// unmarshalRequest reads a GetRequest. The group and the key share one string and one
// allocation of their pointers; a field left off stays nil, as protobuf leaves it.
func unmarshalRequest(data mem.BufferSlice, m *groupcachepb.GetRequest) error {
	m.Reset()
	var buf []byte
	if len(data) == 1 {
		buf = data[0].ReadOnlyData() // copied once, into the string below
	} else {
		buf = data.Materialize()
	}
	var at [2][2]int // start and end in buf of group and key; a set field starts after its tag
	for i := 0; i < len(buf); {
		tag, n := binary.Uvarint(buf[i:])
		if n <= 0 {
			return errors.New("groupcache-k8s: decoding GetRequest: bad field tag")
		}
		i += n
		if tag != groupTag && tag != keyTag {
			r := mem.BufferSlice{mem.SliceBuffer(buf[i:])}.Reader()
			before := r.Remaining()
			if err := skipField(r, tag); err != nil {
				return fmt.Errorf("groupcache-k8s: decoding GetRequest: field %d: %w", tag>>3, err)
			}
			i += before - r.Remaining()
			continue
		}
		l, n := binary.Uvarint(buf[i:])
		if n <= 0 || l > uint64(len(buf)-i-n) {
			return errors.New("groupcache-k8s: decoding GetRequest: field longer than the message")
		}
		f := tag>>3 - 1
		at[f] = [2]int{i + n, i + n + int(l)}
		i += n + int(l)
	}
	all, fields := string(buf), new([2]string)
	for f, field := range [...]**string{&m.Group, &m.Key} {
		if at[f][0] > 0 {
			fields[f] = all[at[f][0]:at[f][1]]
			*field = &fields[f]
		}
	}
	return nil
}
