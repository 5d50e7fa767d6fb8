package k8s

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/golang/groupcache"
	"github.com/golang/groupcache/groupcachepb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

// groupCacheServer is the server side of the GroupCache service, in the shape that
// protoc-gen-go-grpc would generate. grpc uses it to check the implementation.
type groupCacheServer interface {
	Get(ctx context.Context, in *groupcachepb.GetRequest) (*groupcachepb.GetResponse, error)
}

// groupCacheServiceDesc describes the GroupCache service for grpc.ServiceRegistrar.
var groupCacheServiceDesc = grpc.ServiceDesc{
	ServiceName: serviceName,
	HandlerType: (*groupCacheServer)(nil),
	Methods: []grpc.MethodDesc{
		{MethodName: "Get", Handler: getHandler},
	},
	Metadata: "groupcache.proto",
}

// getHandler decodes a GetRequest and calls Get through the server's unary
// interceptor, if any, as generated code does; skipping the interceptor would silently
// bypass the user's authentication, metrics and tracing.
func getHandler(srv any, ctx context.Context, dec func(any) error, interceptor grpc.UnaryServerInterceptor) (any, error) {
	in := new(groupcachepb.GetRequest)
	if err := dec(in); err != nil {
		return nil, err
	}
	server := srv.(groupCacheServer)
	if interceptor == nil {
		return server.Get(ctx, in)
	}
	info := &grpc.UnaryServerInfo{Server: srv, FullMethod: getMethod}
	handler := func(ctx context.Context, req any) (any, error) {
		return server.Get(ctx, req.(*groupcachepb.GetRequest))
	}
	return interceptor(ctx, in, info, handler)
}

// registerGroupCacheServer registers the GroupCache service on reg. Requests are
// served from the groups of this process (groupcache.GetGroup).
func registerGroupCacheServer(reg grpc.ServiceRegistrar, stats *counters, logger *slog.Logger) {
	reg.RegisterService(&groupCacheServiceDesc, &getService{stats: stats, logger: logger})
}

// getService must implement the service it is registered as.
var _ groupCacheServer = (*getService)(nil)

// getService serves peers' Get requests from the local groups.
type getService struct {
	stats  *counters
	logger *slog.Logger
}

// Get loads the requested key through its group, which answers from its caches or
// loads the value locally. The request is marked as coming from a peer, so the group
// does not forward it again (see loopguard.go).
func (s *getService) Get(ctx context.Context, in *groupcachepb.GetRequest) (*groupcachepb.GetResponse, error) {
	if in.GetGroup() == "" {
		return nil, status.Error(codes.InvalidArgument, "groupcache-k8s: the request names no group")
	}
	if in.Key == nil {
		return nil, status.Error(codes.InvalidArgument, "groupcache-k8s: the request has no key")
	}
	name, key := in.GetGroup(), in.GetKey()
	group := groupcache.GetGroup(name)
	if group == nil {
		return nil, status.Errorf(codes.NotFound,
			"groupcache-k8s: no group %q in this process; every pod must create the same groups", name)
	}
	s.stats.serverRequests.Add(1)
	group.Stats.ServerRequests.Add(1)

	var value []byte
	if err := group.Get(withForwarded(ctx, name, key), key, groupcache.AllocatingByteSliceSink(&value)); err != nil {
		s.logger.DebugContext(ctx, "groupcache load for a peer failed", "group", name, "error", err)
		return nil, statusError(err)
	}
	return &groupcachepb.GetResponse{Value: value}, nil
}

// statusError turns an error from Group.Get into a gRPC status error: context errors
// become Canceled or DeadlineExceeded, status errors (from a getter that calls gRPC
// itself) pass through, and anything else is Unknown with the error's message.
func statusError(err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return status.FromContextError(err).Err()
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	return status.Error(codes.Unknown, err.Error())
}

// grpcServer is the gRPC server the manager runs on self's address when the user does
// not bring their own (WithGRPCServer).
type grpcServer struct {
	srv  *grpc.Server
	lis  net.Listener
	done chan struct{} // closed when Serve has returned
}

// startServer listens on addr (self's "host:port", IPv6 bracketed) and serves the
// GroupCache service in a goroutine until stop. The server uses the server credentials
// (insecure without any), the message size limit in both directions, and then the
// user's WithServerOptions, which win.
func startServer(addr string, cfg *config, stats *counters) (*grpcServer, error) {
	opts, err := cfg.serverOptionList()
	if err != nil {
		return nil, err
	}
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("groupcache-k8s: listening for peers on %s: %w", addr, err)
	}
	s := &grpcServer{srv: grpc.NewServer(opts...), lis: lis, done: make(chan struct{})}
	registerGroupCacheServer(s.srv, stats, cfg.logger)
	go s.serve(cfg.logger)
	return s, nil
}

// serverOptionList returns the options of the server startServer creates.
func (c *config) serverOptionList() ([]grpc.ServerOption, error) {
	creds, _, err := c.transportCredentials()
	if err != nil {
		return nil, err
	}
	if creds == nil {
		creds = insecure.NewCredentials()
	}
	limit := c.messageLimit()
	opts := []grpc.ServerOption{grpc.Creds(creds), grpc.MaxRecvMsgSize(limit), grpc.MaxSendMsgSize(limit),
		grpc.ForceServerCodecV2(newValueCodec()), grpc.InitialWindowSize(streamWindow), grpc.InitialConnWindowSize(connWindow)}
	return append(opts, c.serverOptions...), nil
}

// serve runs the server until it is stopped. An error other than a stop (the listener
// failed) is logged: peers then load locally, as with any unreachable peer.
func (s *grpcServer) serve(logger *slog.Logger) {
	defer close(s.done)
	if err := s.srv.Serve(s.lis); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
		logger.Error("groupcache gRPC server stopped serving peers", "addr", s.lis.Addr().String(), "error", err)
	}
}

// stop lets calls in flight finish for up to timeout, then closes every connection.
// It returns once the serving goroutine has exited. Calling it again does nothing.
func (s *grpcServer) stop(timeout time.Duration) {
	graceful := make(chan struct{})
	go func() {
		s.srv.GracefulStop()
		close(graceful)
	}()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case <-graceful:
	case <-timer.C:
		s.srv.Stop()
		<-graceful
	}
	<-s.done
}

// addr returns the address the server listens on, with the actual port when it was
// started on port 0.
func (s *grpcServer) addr() string {
	return s.lis.Addr().String()
}
