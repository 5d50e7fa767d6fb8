package bench

// The "grpc-tuned" transport of the remote benchmarks: the library's own gRPC transport
// with the changes this benchmark suggests for its defaults, applied through the public
// options WithDialOptions and WithServerOptions only, so that the report can show what
// they would gain before anyone edits the library:
//
//   - responseCodec: GetResponse written and read by hand. Marshal puts the value into
//     the outgoing message by reference instead of copying it into a buffer from grpc's
//     pool (which grpc clears, whole 1 MiB tier, before every use); Unmarshal copies the
//     received frames once, straight into GetResponse.Value, instead of joining them
//     into a cleared pooled buffer and then copying that again.
//   - fixed flow-control windows (4 MiB per stream, 16 MiB per connection) instead of
//     grpc's 64 KiB start with BDP estimation, whose pings add frames to every call.

import (
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"os"

	pb "github.com/golang/groupcache/groupcachepb"
	k8s "github.com/groupcache-k8s/k8s"
	"google.golang.org/grpc"
	"google.golang.org/grpc/encoding"
	_ "google.golang.org/grpc/encoding/proto" // registers the "proto" codec used for everything else
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
)

const (
	tunedStreamWindow = 4 << 20
	tunedConnWindow   = 16 << 20
)

// tunedOptions returns the options that turn the library's defaults into grpc-tuned.
// For experiments, BENCH_TUNE=codec or BENCH_TUNE=window applies one of the two changes
// alone (the server helper and the grpc-tuned client helper must see the same value).
func tunedOptions() []k8s.Option {
	tune := os.Getenv("BENCH_TUNE")
	var dial []grpc.DialOption
	var srv []grpc.ServerOption
	if tune == "" || tune == "codec" {
		codec := responseCodec{proto: encoding.GetCodecV2("proto")}
		dial = append(dial, grpc.WithDefaultCallOptions(grpc.ForceCodecV2(codec)))
		srv = append(srv, grpc.ForceServerCodecV2(codec))
	}
	if tune == "" || tune == "window" {
		dial = append(dial, grpc.WithInitialWindowSize(tunedStreamWindow), grpc.WithInitialConnWindowSize(tunedConnWindow))
		srv = append(srv, grpc.InitialWindowSize(tunedStreamWindow), grpc.InitialConnWindowSize(tunedConnWindow))
	}
	return []k8s.Option{k8s.WithDialOptions(dial...), k8s.WithServerOptions(srv...)}
}

// responseCodec is grpc's proto codec, except for GetResponse, the message that carries
// values. Its wire format is the same: field 1 (value, bytes) and field 2 (minute_qps,
// double) of groupcache.proto.
type responseCodec struct{ proto encoding.CodecV2 }

func (responseCodec) Name() string { return "proto" }

func (c responseCodec) Marshal(v any) (mem.BufferSlice, error) {
	m, ok := v.(*pb.GetResponse)
	if !ok || len(m.XXX_unrecognized) > 0 {
		return c.proto.Marshal(v)
	}
	var out mem.BufferSlice
	if m.Value != nil {
		head := protowire.AppendVarint(protowire.AppendTag(nil, 1, protowire.BytesType), uint64(len(m.Value)))
		out = append(out, mem.SliceBuffer(head))
		if len(m.Value) > 0 {
			out = append(out, mem.SliceBuffer(m.Value)) // by reference: grpc only reads it
		}
	}
	if m.MinuteQps != nil {
		tail := protowire.AppendFixed64(protowire.AppendTag(nil, 2, protowire.Fixed64Type), math.Float64bits(*m.MinuteQps))
		out = append(out, mem.SliceBuffer(tail))
	}
	return out, nil
}

func (c responseCodec) Unmarshal(data mem.BufferSlice, v any) error {
	m, ok := v.(*pb.GetResponse)
	if !ok {
		return c.proto.Unmarshal(data, v)
	}
	m.Reset()
	r := data.Reader()
	defer r.Close()
	for r.Remaining() > 0 {
		tag, err := binary.ReadUvarint(r)
		if err != nil {
			return fmt.Errorf("GetResponse: %w", err)
		}
		num, typ := protowire.Number(tag>>3), protowire.Type(tag&7)
		switch {
		case num == 1 && typ == protowire.BytesType:
			n, err := binary.ReadUvarint(r)
			if err != nil || n > uint64(r.Remaining()) {
				return fmt.Errorf("GetResponse: bad value length")
			}
			m.Value = make([]byte, n)
			if _, err := io.ReadFull(r, m.Value); err != nil {
				return fmt.Errorf("GetResponse: %w", err)
			}
		case num == 2 && typ == protowire.Fixed64Type:
			var b [8]byte
			if _, err := io.ReadFull(r, b[:]); err != nil {
				return fmt.Errorf("GetResponse: %w", err)
			}
			qps := math.Float64frombits(binary.LittleEndian.Uint64(b[:]))
			m.MinuteQps = &qps
		default:
			if err := skipField(r, typ); err != nil {
				return fmt.Errorf("GetResponse: field %d: %w", num, err)
			}
		}
	}
	return nil
}

// skipField skips an unknown field's payload.
func skipField(r *mem.Reader, typ protowire.Type) error {
	var n uint64
	switch typ {
	case protowire.VarintType:
		_, err := binary.ReadUvarint(r)
		return err
	case protowire.Fixed32Type:
		n = 4
	case protowire.Fixed64Type:
		n = 8
	case protowire.BytesType:
		var err error
		if n, err = binary.ReadUvarint(r); err != nil {
			return err
		}
	default:
		return fmt.Errorf("unsupported wire type %d", typ)
	}
	if n > uint64(r.Remaining()) {
		return io.ErrUnexpectedEOF
	}
	_, err := io.CopyN(io.Discard, r, int64(n))
	return err
}
