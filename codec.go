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
// message goes to grpc's codec. Both accept and refuse what protobuf does: unknown
// fields of every wire type, groups included, are skipped; field number 0, numbers
// above 2^29-1 and unmatched ends of groups are refused.
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
		num, typ, err := readTag(r, maxFieldNumber)
		if err != nil {
			return fmt.Errorf("groupcache-k8s: decoding GetResponse: %w", err)
		}
		switch {
		case num<<3|typ == valueTag:
			n, err := readUvarint(r)
			if err != nil || n > uint64(r.Remaining()) {
				return errors.New("groupcache-k8s: decoding GetResponse: value longer than the message")
			}
			m.Value = make([]byte, n)
			if _, err := io.ReadFull(r, m.Value); err != nil {
				return fmt.Errorf("groupcache-k8s: decoding GetResponse: %w", err)
			}
		case num<<3|typ == qpsTag:
			var b [8]byte
			if _, err := io.ReadFull(r, b[:]); err != nil {
				return fmt.Errorf("groupcache-k8s: decoding GetResponse: %w", err)
			}
			qps := math.Float64frombits(binary.LittleEndian.Uint64(b[:]))
			m.MinuteQps = &qps
		default:
			if err := skipField(r, num, typ, maxGroupDepth); err != nil {
				return fmt.Errorf("groupcache-k8s: decoding GetResponse: field %d: %w", num, err)
			}
		}
	}
	return nil
}

// The limits protobuf sets on what it reads.
const (
	// maxFieldNumber is the greatest field number of a message; inside a group protobuf
	// skips any number up to math.MaxInt32.
	maxFieldNumber = 1<<29 - 1
	// maxGroupDepth is how deeply groups may nest (protowire.DefaultRecursionLimit).
	maxGroupDepth = 10000
)

// readTag reads a field's tag: its number, from 1 to max, and its wire type.
func readTag(r *mem.Reader, max uint64) (num, typ uint64, err error) {
	tag, err := readUvarint(r)
	if err != nil {
		return 0, 0, fmt.Errorf("bad field tag: %w", err)
	}
	if num = tag >> 3; num < 1 || num > max {
		return 0, 0, fmt.Errorf("field number %d out of range", num)
	}
	return num, tag & 7, nil
}

// skipField skips the payload of field num, of wire type typ, that this codec does not
// read, as protobuf skips an unknown field: a group to its matching end, through at most
// depth more groups nested in it.
func skipField(r *mem.Reader, num, typ uint64, depth int) error {
	var n uint64
	switch typ {
	case 0: // varint
		_, err := readUvarint(r)
		return err
	case 1: // 64-bit
		n = 8
	case 2: // length-delimited
		var err error
		if n, err = readUvarint(r); err != nil {
			return err
		}
	case 3: // start of a group
		if depth < 0 {
			return errors.New("groups nested too deeply")
		}
		for {
			inner, innerTyp, err := readTag(r, math.MaxInt32)
			if err != nil {
				return err
			}
			if innerTyp == 4 {
				if inner != num {
					return fmt.Errorf("group %d ended as group %d", num, inner)
				}
				return nil
			}
			if err := skipField(r, inner, innerTyp, depth-1); err != nil {
				return err
			}
		}
	case 5: // 32-bit
		n = 4
	default: // the end of a group that did not start, or a reserved wire type
		return fmt.Errorf("unexpected wire type %d", typ)
	}
	if n > uint64(r.Remaining()) {
		return io.ErrUnexpectedEOF
	}
	return discard(r, n)
}

// readUvarint reads a varint as binary.ReadUvarint does, from r itself rather than
// through an interface, so that a request's reader need not escape to the heap.
func readUvarint(r *mem.Reader) (uint64, error) {
	var x uint64
	for i, shift := 0, uint(0); i < binary.MaxVarintLen64; i, shift = i+1, shift+7 {
		b, err := r.ReadByte()
		if err != nil {
			if i > 0 && err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return x, err
		}
		if b < 0x80 {
			if i == binary.MaxVarintLen64-1 && b > 1 {
				break
			}
			return x | uint64(b)<<shift, nil
		}
		x |= uint64(b&0x7f) << shift
	}
	return x, errors.New("varint overflows a 64-bit integer")
}

// discard skips n bytes of r, which holds at least n.
func discard(r *mem.Reader, n uint64) error {
	var buf [512]byte
	for n > 0 {
		k, err := r.Read(buf[:min(n, uint64(len(buf)))])
		if err != nil {
			return err
		}
		n -= uint64(k)
	}
	return nil
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

// unmarshalRequest reads a GetRequest. The group and the key share one string of their
// own length, and nothing else of the message: groupcache keeps the key in its cache,
// counting only its length. A field left off stays nil, as protobuf leaves it.
func unmarshalRequest(data mem.BufferSlice, m *groupcachepb.GetRequest) error {
	m.Reset()
	var buf []byte
	if len(data) == 1 {
		buf = data[0].ReadOnlyData() // copied below, only the group and key
	} else {
		buf = data.Materialize()
	}
	r := data.Reader() // holds its own reference: buf stays valid until Close
	defer r.Close()
	var at [2][2]int // start and end in buf of group and key; a set field starts after its tag
	for r.Remaining() > 0 {
		num, typ, err := readTag(r, maxFieldNumber)
		if err != nil {
			return fmt.Errorf("groupcache-k8s: decoding GetRequest: %w", err)
		}
		if tag := num<<3 | typ; tag != groupTag && tag != keyTag {
			if err := skipField(r, num, typ, maxGroupDepth); err != nil {
				return fmt.Errorf("groupcache-k8s: decoding GetRequest: field %d: %w", num, err)
			}
			continue
		}
		l, err := readUvarint(r)
		if err != nil || l > uint64(r.Remaining()) {
			return errors.New("groupcache-k8s: decoding GetRequest: field longer than the message")
		}
		start := len(buf) - r.Remaining()
		at[num-1] = [2]int{start, start + int(l)}
		discard(r, l) // within the message: cannot fail
	}
	group, key := buf[at[0][0]:at[0][1]], buf[at[1][0]:at[1][1]]
	both, fields := string(group)+string(key), new([2]string)
	fields[0], fields[1] = both[:len(group)], both[len(group):]
	for f, field := range [...]**string{&m.Group, &m.Key} {
		if at[f][0] > 0 {
			*field = &fields[f]
		}
	}
	return nil
}
