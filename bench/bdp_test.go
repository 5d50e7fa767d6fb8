package bench

// The "grpc-bdp" transport of the remote benchmarks: the library's gRPC transport with
// grpc's own flow control (a 64 KiB start that BDP estimation grows) instead of the
// library's fixed windows, set back through the public options WithDialOptions and
// WithServerOptions, so that the report shows what the fixed windows gain.

import (
	k8s "github.com/groupcache-k8s/k8s"
	"google.golang.org/grpc"
)

// bdpOptions returns the options that give the library's transport grpc's default flow
// control: a window size of 0 is below grpc's minimum, so grpc keeps BDP estimation on.
func bdpOptions() []k8s.Option {
	return []k8s.Option{
		k8s.WithDialOptions(grpc.WithInitialWindowSize(0), grpc.WithInitialConnWindowSize(0)),
		k8s.WithServerOptions(grpc.InitialWindowSize(0), grpc.InitialConnWindowSize(0)),
	}
}
