package bench

// The "grpc-tuned" transport of the remote benchmarks: the library's own gRPC transport
// with fixed flow-control windows (4 MiB per stream, 16 MiB per connection) instead of
// grpc's 64 KiB start with BDP estimation, applied through the public options
// WithDialOptions and WithServerOptions, so that the report shows what they would gain
// as a default. (The hand-written GetResponse codec this file used to prototype is now
// the library's own, codec.go.)

import (
	k8s "github.com/groupcache-k8s/k8s"
	"google.golang.org/grpc"
)

const (
	tunedStreamWindow = 4 << 20
	tunedConnWindow   = 16 << 20
)

// tunedOptions returns the options that turn the library's defaults into grpc-tuned.
func tunedOptions() []k8s.Option {
	return []k8s.Option{
		k8s.WithDialOptions(grpc.WithInitialWindowSize(tunedStreamWindow), grpc.WithInitialConnWindowSize(tunedConnWindow)),
		k8s.WithServerOptions(grpc.InitialWindowSize(tunedStreamWindow), grpc.InitialConnWindowSize(tunedConnWindow)),
	}
}
