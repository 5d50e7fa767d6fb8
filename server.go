package k8s

// The server: the GroupCache service that answers peers from the local groups, its route
// on a gRPC server, and the server the manager starts on self.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"reflect"
	"sync"
	"sync/atomic"
	"time"

	"github.com/golang/groupcache"
	"github.com/golang/groupcache/groupcachepb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// groupCacheServer is the server side of the GroupCache service, in the shape that
// protoc-gen-go-grpc would generate. grpc uses it to check the implementation.
type groupCacheServer interface {
	Get(ctx context.Context, in *groupcachepb.GetRequest) (*groupcachepb.GetResponse, error)
	Peek(ctx context.Context, in *groupcachepb.GetRequest) (*groupcachepb.GetResponse, error)
	Ping(ctx context.Context, in *groupcachepb.GetRequest) (*groupcachepb.GetResponse, error)
	Push(ctx context.Context, in *groupcachepb.GetResponse) (*groupcachepb.GetResponse, error)
}

// groupCacheServiceDesc describes the GroupCache service for grpc.ServiceRegistrar.
var groupCacheServiceDesc = grpc.ServiceDesc{
	ServiceName: grpcServiceName,
	HandlerType: (*groupCacheServer)(nil),
	Methods: []grpc.MethodDesc{
		{MethodName: "Get", Handler: getHandler},
		{MethodName: "Peek", Handler: peekHandler},
		{MethodName: "Ping", Handler: pingHandler},
		{MethodName: "Push", Handler: pushHandler},
	},
	Metadata: "groupcache.proto",
}

// getHandler decodes a GetRequest and calls Get through the server's unary
// interceptor, if any, as generated code does; skipping the interceptor would silently
// bypass the user's authentication, metrics and tracing.
func getHandler(srv any, ctx context.Context, dec func(any) error, interceptor grpc.UnaryServerInterceptor) (any, error) {
	return handle(srv.(groupCacheServer).Get, getMethod, srv, ctx, dec, interceptor)
}

// peekHandler is getHandler for Peek.
func peekHandler(srv any, ctx context.Context, dec func(any) error, interceptor grpc.UnaryServerInterceptor) (any, error) {
	return handle(srv.(groupCacheServer).Peek, peekMethod, srv, ctx, dec, interceptor)
}

// pingHandler decodes a GetRequest and calls Ping directly, without the server's
// interceptor: a ping must be answered while the user's rate limiter or concurrency
// limit holds the peer's calls back (a peer busy with slow loads is alive), and it
// touches no group and answers nothing but that the process runs. grpc's stats handlers
// still see it; the user's client interceptors (WithDialOptions) still apply on the way
// out.
func pingHandler(srv any, ctx context.Context, dec func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
	in := new(groupcachepb.GetRequest)
	if err := dec(in); err != nil {
		return nil, err
	}
	return srv.(groupCacheServer).Ping(ctx, in)
}

// pushHandler decodes a GetResponse, the pushed entry (push.go), and calls Push through
// the server's unary interceptor, if any.
func pushHandler(srv any, ctx context.Context, dec func(any) error, interceptor grpc.UnaryServerInterceptor) (any, error) {
	in := new(groupcachepb.GetResponse)
	if err := dec(in); err != nil {
		return nil, err
	}
	push := srv.(groupCacheServer).Push
	if interceptor == nil {
		return push(ctx, in)
	}
	info := &grpc.UnaryServerInfo{Server: srv, FullMethod: pushMethod}
	return interceptor(ctx, in, info, func(ctx context.Context, req any) (any, error) {
		return push(ctx, req.(*groupcachepb.GetResponse))
	})
}

func handle(method func(context.Context, *groupcachepb.GetRequest) (*groupcachepb.GetResponse, error), name string,
	srv any, ctx context.Context, dec func(any) error, interceptor grpc.UnaryServerInterceptor) (any, error) {
	in := new(groupcachepb.GetRequest)
	if err := dec(in); err != nil {
		return nil, err
	}
	if interceptor == nil {
		return method(ctx, in)
	}
	info := &grpc.UnaryServerInfo{Server: srv, FullMethod: name}
	handler := func(ctx context.Context, req any) (any, error) {
		return method(ctx, req.(*groupcachepb.GetRequest))
	}
	return interceptor(ctx, in, info, handler)
}

// getService must implement the service it is registered as, and so must serviceRoute.
var (
	_ groupCacheServer = (*getService)(nil)
	_ groupCacheServer = (*serviceRoute)(nil)
)

// getService serves peers' Get requests from the local groups for one manager.
type getService struct {
	stats   *counters
	guard   *loopGuard
	logger  *slog.Logger
	clock   clock
	routing func() *snapshot // the manager's routing state: who is a peer, which keys are self's
	window  time.Duration    // the hand-off's window
	self    string           // this pod's peer id, which is no peer of its own
	storing *storingPushes   // the keys a push stores while the ring routes them away (push.go)
}

// newGetService returns the service of a manager with these counters, loop guard and
// configuration.
func newGetService(stats *counters, guard *loopGuard, cfg *config) *getService {
	return &getService{stats: stats, guard: guard, logger: cfg.logger, clock: cfg.clock, storing: &storingPushes{},
		window:  cfg.handoff.Window,
		routing: func() *snapshot { return &snapshot{ring: emptyRing, self: -1} }}
}

// served records a peer's request: when it came, and whether it came during a drain.
func (s *getService) served() {
	s.stats.lastPeerRequest.Store(s.clock.Now().UnixNano())
	if s.stats.draining.Load() {
		s.stats.drainRequests.Add(1)
	}
}

// group returns the group a request names, or the error to answer with.
func requestGroup(in *groupcachepb.GetRequest) (*groupcache.Group, error) {
	if in.GetGroup() == "" {
		return nil, status.Error(codes.InvalidArgument, "groupcache-k8s: the request names no group")
	}
	group := groupcache.GetGroup(in.GetGroup())
	if group == nil {
		return nil, status.Errorf(codes.NotFound,
			"groupcache-k8s: no group %q in this process; every pod must create the same groups", in.GetGroup())
	}
	return group, nil
}

// Peek answers a peer's peek: the key's value if this process holds it in the group's
// main or hot cache, and codes.NotFound otherwise, with the key's previous owners by this
// pod's past rings in the trailer (namePreviousOwners). It never loads, forwards, or waits
// for a load in flight (see cachepeek.go), so it answers within microseconds.
func (s *getService) Peek(ctx context.Context, in *groupcachepb.GetRequest) (*groupcachepb.GetResponse, error) {
	s.served()
	group, err := requestGroup(in)
	if err != nil {
		return nil, err
	}
	s.stats.peeksServed.Add(1)
	value, ok := cachedValue(group, in.GetKey())
	if !ok {
		s.namePreviousOwners(ctx, in.GetKey())
		return nil, errNotCached
	}
	s.stats.peekServedHits.Add(1)
	return &groupcachepb.GetResponse{Value: value}, nil
}

// Ping answers a peer's liveness check (liveness.go) at once, without touching any group
// and without counting as a request: a pod whose backend is slow still answers it.
func (s *getService) Ping(context.Context, *groupcachepb.GetRequest) (*groupcachepb.GetResponse, error) {
	return &groupcachepb.GetResponse{}, nil
}

// peekPreviousMD is the trailer of a missed peek that names the key's previous owners by
// the answering pod's past rings within its window (handoffState.previousOwners), newest
// first, at most maxPeeks: where the asker may look next. In a rolling update a key often
// changes owners twice while nobody asks for it (a new pod takes it, then a newer one),
// and its new owner's past rings know only the one between.
const peekPreviousMD = "groupcache-peek-previous"

// namePreviousOwners sets the trailer of a peek of key that this pod missed to the key's
// previous owners (peekPreviousMD), if it knows any.
func (s *getService) namePreviousOwners(ctx context.Context, key string) {
	snap := s.routing()
	if snap.handoff == nil {
		return
	}
	if ids := snap.handoff.previousOwners(key, snap.clients, s.clock.Now(), s.window, maxPeeks, nil); len(ids) > 0 {
		grpc.SetTrailer(ctx, metadata.MD{peekPreviousMD: ids}) // fails only outside a call: nothing to name then
	}
}

// errNotCached answers a peek for a key this process does not hold.
var errNotCached = status.Error(codes.NotFound, "groupcache-k8s: not cached here")

// Get loads the requested key through its group, which answers from its caches or
// loads the value locally. A request for a key that this manager is forwarding to a
// peer right now is refused at once with codes.Aborted, and while the request is
// served its key is not forwarded (see loopguard.go). A missing key is the empty key,
// as proto3 senders leave an empty key off the wire; only a missing group is an error.
func (s *getService) Get(ctx context.Context, in *groupcachepb.GetRequest) (*groupcachepb.GetResponse, error) {
	s.served()
	group, err := requestGroup(in)
	if err != nil {
		return nil, err
	}
	name, key := in.GetGroup(), in.GetKey()
	if !s.guard.startServe(name, key) {
		s.stats.loopsPrevented.Add(1)
		return nil, errServeLoop
	}
	defer s.guard.endServe(name, key)
	s.stats.serverRequests.Add(1)
	group.Stats.ServerRequests.Add(1)

	var value []byte
	if err := group.Get(ctx, key, groupcache.AllocatingByteSliceSink(&value)); err != nil {
		s.logger.DebugContext(ctx, "groupcache load for a peer failed", "group", name, "error", err)
		return nil, statusError(err)
	}
	return &groupcachepb.GetResponse{Value: value}, nil
}

// errServeLoop refuses a peer's request for a key this process is forwarding.
var errServeLoop = status.Error(codes.Aborted, "groupcache-k8s: this pod is forwarding the key to a peer "+
	"right now (the peers disagree about who owns it); load it locally")

// serviceRoute is the GroupCache service registered on one grpc.Server: it passes each
// request to the manager that serves on that server now. grpc cannot unregister a
// service, so the route is registered once per server and later managers attach to it.
type serviceRoute struct {
	live atomic.Pointer[getService]
}

// errNotServing answers requests that reach a server no open manager serves on.
var errNotServing = status.Error(codes.Unavailable, "groupcache-k8s: no open PeersManager serves groupcache "+
	"on this gRPC server; load the key locally")

// Get passes the request to the live manager's service.
func (r *serviceRoute) Get(ctx context.Context, in *groupcachepb.GetRequest) (*groupcachepb.GetResponse, error) {
	s := r.live.Load()
	if s == nil {
		return nil, errNotServing
	}
	return s.Get(ctx, in)
}

// Ping answers at once, as the live manager's service would: the server is alive even
// when no manager serves on it, and its Gets then fail at once.
func (r *serviceRoute) Ping(context.Context, *groupcachepb.GetRequest) (*groupcachepb.GetResponse, error) {
	return &groupcachepb.GetResponse{}, nil
}

// Peek passes the request to the live manager's service.
func (r *serviceRoute) Peek(ctx context.Context, in *groupcachepb.GetRequest) (*groupcachepb.GetResponse, error) {
	s := r.live.Load()
	if s == nil {
		return nil, errNotServing
	}
	return s.Peek(ctx, in)
}

// Push passes the request to the live manager's service.
func (r *serviceRoute) Push(ctx context.Context, in *groupcachepb.GetResponse) (*groupcachepb.GetResponse, error) {
	s := r.live.Load()
	if s == nil {
		return nil, errNotServing
	}
	return s.Push(ctx, in)
}

// detach stops routing requests to svc; later requests get codes.Unavailable until
// another manager attaches.
func (r *serviceRoute) detach(svc *getService) { r.live.CompareAndSwap(svc, nil) }

// attachMu makes attaching to a server one step, so that two managers created at once
// on the same server do not both register.
var attachMu sync.Mutex

// attachService makes reg serve the GroupCache service from svc. The first manager on a
// server registers the service, which grpc allows only before Serve; later managers on
// the same server (after the first one was closed) reuse that registration. It fails,
// without touching reg, when an open manager already serves on reg, when another
// implementation of the service is registered there, or when reg is a *grpc.Server whose
// Serve has already started: grpc would end the process on those registrations.
func attachService(reg grpc.ServiceRegistrar, svc *getService) (*serviceRoute, error) {
	attachMu.Lock()
	defer attachMu.Unlock()
	if lister, ok := reg.(interface {
		GetServiceInfo() map[string]grpc.ServiceInfo
	}); ok {
		if info, ok := lister.GetServiceInfo()[grpcServiceName]; ok {
			route, ours := info.Metadata.(*serviceRoute)
			switch {
			case !ours:
				return nil, fmt.Errorf("groupcache-k8s: the gRPC server already has a %s service that is not this "+
					"library's; a server can serve only one implementation of it", grpcServiceName)
			case !route.live.CompareAndSwap(nil, svc):
				return nil, errors.New("groupcache-k8s: another PeersManager already serves groupcache on this gRPC " +
					"server; close it first")
			}
			return route, nil
		}
	}
	if serveStarted(reg) {
		return nil, errors.New("groupcache-k8s: the gRPC server given with WithGRPCServer is already serving; " +
			"create the first PeersManager on a server before calling its Serve (later ones may come at any time)")
	}
	route := &serviceRoute{}
	route.live.Store(svc)
	desc := groupCacheServiceDesc
	desc.Metadata = route // how a later manager finds the route in GetServiceInfo
	reg.RegisterService(&desc, route)
	return route, nil
}

// serveStarted reports whether reg is a *grpc.Server whose Serve was called. grpc ends
// the process (logger.Fatalf) when a service is registered after Serve and offers no way
// to ask, so this reads the server's unexported serve flag, after GetServiceInfo has
// taken and released the server's lock (so a Serve that started before is seen). For
// other registrars, or if grpc renames the field, it reports false.
func serveStarted(reg grpc.ServiceRegistrar) bool {
	srv, ok := reg.(*grpc.Server)
	if !ok || srv == nil {
		return false
	}
	srv.GetServiceInfo()
	f := reflect.ValueOf(srv).Elem().FieldByName("serve")
	return f.IsValid() && f.Kind() == reflect.Bool && f.Bool()
}

// statusError turns err, from Group.Get, into a gRPC status error. A context error
// becomes Canceled or DeadlineExceeded, unmarked: the request, or the request whose load
// this one shared, ended (the caller gave up, the server is stopping), and a peer whose
// own request is live may load the key itself. Any other error is the getter's, and is
// marked as the owner's error (ownererror.go), keeping its code: a status error's own (a
// getter that calls gRPC itself), DeadlineExceeded or Canceled for a getterContextError
// (a group made by NewGroup whose getter's backend call timed out on its own), and
// codes.Unknown otherwise.
func statusError(err error) error {
	if _, ownDeadline := errors.AsType[getterContextError](err); ownDeadline {
		return ownerErrorStatus(status.FromContextError(err).Err())
	}
	if isContextError(err) {
		return status.FromContextError(err).Err()
	}
	return ownerErrorStatus(err)
}

// isContextError reports whether err is or wraps context.Canceled or DeadlineExceeded.
func isContextError(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

// grpcServer is the gRPC server the manager runs on self's address when the user does
// not bring their own (WithGRPCServer).
type grpcServer struct {
	srv  *grpc.Server
	lis  net.Listener
	done chan struct{} // closed when Serve has returned
}

// startServer listens on addr (self's "host:port", IPv6 bracketed) and serves the
// GroupCache service from svc in a goroutine until stop. The server uses the server
// credentials (insecure without any), the message size limit in both directions, and
// then the user's WithServerOptions, which win.
func startServer(addr string, cfg *config, svc *getService) (*grpcServer, error) {
	opts, err := cfg.serverOptionList()
	if err != nil {
		return nil, err
	}
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("groupcache-k8s: listening for peers on %s: %w", addr, err)
	}
	s := &grpcServer{srv: grpc.NewServer(opts...), lis: lis, done: make(chan struct{})}
	if _, err := attachService(s.srv, svc); err != nil { // a new server: not expected to fail
		lis.Close()
		return nil, err
	}
	go s.serve(cfg.logger)
	return s, nil
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
