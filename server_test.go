package k8s

// Tests of the server: status codes and counters, the empty key, interceptors, stopping,
// listening, and several managers on one gRPC server.

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang/groupcache"
	"github.com/golang/groupcache/groupcachepb"
	"github.com/groupcache-k8s/k8s/internal/fakeapi"
	"github.com/groupcache-k8s/k8s/internal/leakcheck"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// TestServerErrors checks the status codes the server returns and the counters each
// case moves.
func TestServerErrors(t *testing.T) {
	p := newTestPair(t)
	group := newTestGroup(t, func(_ context.Context, key string, dest groupcache.Sink) error {
		switch key {
		case "fails":
			return errors.New("backend is down")
		case "denied":
			return status.Error(codes.PermissionDenied, "backend says no")
		case "slow backend":
			return fmt.Errorf("querying the backend: %w", context.DeadlineExceeded)
		}
		return dest.SetString("ok")
	})
	name := group.Name()
	tests := []struct {
		name        string
		req         *groupcachepb.GetRequest
		wantCode    codes.Code
		wantMessage string // part of the status message
		wantServed  int64  // change of the server's serverRequests and the group's ServerRequests
		wantOwner   bool   // the error is marked as the owner's getter's (ownererror.go)
	}{
		{"value", getRequest(name, "good"), codes.OK, "", 1, false},
		{"getter error", getRequest(name, "fails"), codes.Unknown, "backend is down", 1, true},
		{"getter status error passes through", getRequest(name, "denied"), codes.PermissionDenied, "backend says no", 1, true},
		// A context error of a group not made by NewGroup: unmarked (see TestStatusError).
		{"getter context error", getRequest(name, "slow backend"), codes.DeadlineExceeded, "querying the backend", 1, false},
		{"unknown group", getRequest("no-such-group", "k"), codes.NotFound, `"no-such-group"`, 0, false},
		{"no group", &groupcachepb.GetRequest{Key: new("k")}, codes.InvalidArgument, "no group", 0, false},
		{"no key is the empty key, as proto3 senders leave it off", &groupcachepb.GetRequest{Group: &name}, codes.OK, "", 1, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rpcs, errs := p.client.stats.peerRPCs.Load(), p.client.stats.peerErrors.Load()
			served, groupServed := p.server.stats.serverRequests.Load(), group.Stats.ServerRequests.Get()

			var out groupcachepb.GetResponse
			err := p.client.Get(requestContext(t, 5*time.Second), tt.req, &out)
			if got := status.Code(err); got != tt.wantCode {
				t.Fatalf("Get: code %v (%v), want %v", got, err, tt.wantCode)
			}
			if msg := status.Convert(err).Message(); !strings.Contains(msg, tt.wantMessage) {
				t.Errorf("message %q does not contain %q", msg, tt.wantMessage)
			}
			if got := isOwnerError(err); got != tt.wantOwner {
				t.Errorf("marked as the owner's error: %v, want %v", got, tt.wantOwner)
			}
			wantErrs := int64(0)
			if tt.wantCode != codes.OK {
				wantErrs = 1
			}
			assertCount(t, "client peerRPCs", p.client.stats.peerRPCs.Load()-rpcs, 1)
			assertCount(t, "client peerErrors", p.client.stats.peerErrors.Load()-errs, wantErrs)
			assertCount(t, "server serverRequests", p.server.stats.serverRequests.Load()-served, tt.wantServed)
			assertCount(t, "group Stats.ServerRequests", group.Stats.ServerRequests.Get()-groupServed, tt.wantServed)
		})
	}
}

// TestMissingKeyIsTheEmptyKey: a proto3 sender (the gRPC forks' client) leaves an empty
// key off the wire, which decodes to GetRequest.Key == nil. groupcache allows the empty
// key, so the server must load "" for it rather than refuse the request.
func TestMissingKeyIsTheEmptyKey(t *testing.T) {
	p := newTestPair(t)
	var asked atomic.Value
	group := newTestGroup(t, func(ctx context.Context, key string, dest groupcache.Sink) error {
		asked.Store(key)
		return echoGetter(ctx, key, dest)
	})
	name := group.Name()
	var out groupcachepb.GetResponse
	if err := p.client.Get(requestContext(t, 5*time.Second), &groupcachepb.GetRequest{Group: &name}, &out); err != nil {
		t.Fatalf("Get without a key: %v, want the value of the empty key", err)
	}
	if got, want := string(out.Value), valueOf(""); got != want || asked.Load() != "" {
		t.Errorf("value %q for key %q, want %q for the empty key", got, asked.Load(), want)
	}
}

// TestServerInterceptor checks that the user's unary interceptors run before the
// handler, see the full method name, and can refuse a request.
func TestServerInterceptor(t *testing.T) {
	var calls atomic.Int64
	var method atomic.Value
	interceptor := func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		calls.Add(1)
		method.Store(info.FullMethod)
		if in, ok := req.(*groupcachepb.GetRequest); !ok || in.GetKey() == "forbidden" {
			return nil, status.Error(codes.PermissionDenied, "interceptor refused")
		}
		return handler(ctx, req)
	}
	p := newTestPair(t, WithServerOptions(grpc.ChainUnaryInterceptor(interceptor)))
	group := newTestGroup(t, echoGetter)
	tests := []struct {
		key        string
		wantCode   codes.Code
		wantServed int64
	}{
		{"allowed", codes.OK, 1},
		{"forbidden", codes.PermissionDenied, 0},
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			before, served := calls.Load(), p.server.stats.serverRequests.Load()
			var out groupcachepb.GetResponse
			err := p.client.Get(requestContext(t, 5*time.Second), getRequest(group.Name(), tt.key), &out)
			if got := status.Code(err); got != tt.wantCode {
				t.Fatalf("Get: code %v (%v), want %v", got, err, tt.wantCode)
			}
			assertCount(t, "interceptor calls", calls.Load()-before, 1)
			if got := method.Load(); got != "/groupcachepb.GroupCache/Get" {
				t.Errorf("interceptor saw method %v, want /groupcachepb.GroupCache/Get", got)
			}
			assertCount(t, "serverRequests", p.server.stats.serverRequests.Load()-served, tt.wantServed)
		})
	}
}

// TestStatusError: which errors of a load the server marks as the owner's: the getter's,
// and its own deadline's when a group made by NewGroup says so (getterContextError); a
// plain context error is the end of a request, unmarked.
func TestStatusError(t *testing.T) {
	backendTimeout := fmt.Errorf("querying the backend: %w", context.DeadlineExceeded)
	tests := []struct {
		name      string
		err       error
		wantCode  codes.Code
		wantOwner bool
	}{
		{"getter error", errors.New("no such record"), codes.Unknown, true},
		{"getter status error", status.Error(codes.NotFound, "no such record"), codes.NotFound, true},
		{"getter's own timeout (NewGroup)", getterContextError{backendTimeout}, codes.DeadlineExceeded, true},
		{"a context error: a request ended", backendTimeout, codes.DeadlineExceeded, false},
		{"request cancelled", context.Canceled, codes.Canceled, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := statusError(tt.err)
			if got := status.Code(err); got != tt.wantCode {
				t.Errorf("code %v, want %v", got, tt.wantCode)
			}
			if got := isOwnerError(err); got != tt.wantOwner {
				t.Errorf("marked as the owner's error: %v, want %v", got, tt.wantOwner)
			}
		})
	}
}

// TestSharedLoadOfACancelledRequestIsNotOwnerError: groupcache runs one load per key and
// hands its result to every request waiting for it; the getter sees the context of the
// request that started the load. When that request is cancelled and the getter returns
// ctx.Err(), a second request whose own context is live gets that error: it is not the
// owner's answer, and must not be marked (it was, and the second request's caller then
// returned "context canceled" to its user instead of loading the key itself).
func TestSharedLoadOfACancelledRequestIsNotOwnerError(t *testing.T) {
	var loads atomic.Int64
	started := make(chan struct{}, 1)
	group := newTestGroup(t, func(ctx context.Context, key string, dest groupcache.Sink) error {
		loads.Add(1)
		started <- struct{}{}
		<-ctx.Done() // a backend that honours its caller's context
		return ctx.Err()
	})
	svc := newGetService(&counters{}, &loopGuard{}, testConfig())
	ctxA, cancelA := context.WithCancel(context.Background())
	errA := make(chan error, 1)
	go func() {
		_, err := svc.Get(ctxA, getRequest(group.Name(), "k"))
		errA <- err
	}()
	<-started
	errB := make(chan error, 1)
	go func() {
		_, err := svc.Get(requestContext(t, 10*time.Second), getRequest(group.Name(), "k"))
		errB <- err
	}()
	waitUntil(t, "B waits for A's load", func() bool { return group.Stats.Loads.Get() == 2 })
	cancelA()
	<-errA
	err := <-errB
	assertCount(t, "getter calls (B shares A's load)", loads.Load(), 1)
	if status.Code(err) != codes.Canceled || isOwnerError(err) {
		t.Errorf("request B, live, got %v (owner's error: %v); want Canceled, unmarked", err, isOwnerError(err))
	}
}

// TestPingSkipsServerInterceptors: a ping is answered by the server itself, also when
// the user's interceptor holds back or refuses every call (a rate limiter, an
// authorisation check); Gets still go through the interceptor.
func TestPingSkipsServerInterceptors(t *testing.T) {
	var calls atomic.Int64
	refuse := func(context.Context, any, *grpc.UnaryServerInfo, grpc.UnaryHandler) (any, error) {
		calls.Add(1)
		return nil, status.Error(codes.ResourceExhausted, "over the limit")
	}
	p := newTestPair(t, WithServerOptions(grpc.ChainUnaryInterceptor(refuse)))
	var out groupcachepb.GetResponse
	if err := p.client.channel.invoke(requestContext(t, 5*time.Second), p.client.pings, pingMethod, &groupcachepb.GetRequest{}, &out); err != nil {
		t.Errorf("Ping through a refusing interceptor: %v, want an answer", err)
	}
	assertCount(t, "interceptor calls for the ping", calls.Load(), 0)
	if err := p.client.Get(requestContext(t, 5*time.Second), getRequest("g", "k"), &out); status.Code(err) != codes.ResourceExhausted {
		t.Errorf("Get through the refusing interceptor: %v, want codes.ResourceExhausted", err)
	}
	assertCount(t, "interceptor calls for the Get", calls.Load(), 1)
}

// TestServerStopBoundsInFlightCalls checks that stop waits for calls in flight only
// for its timeout, then ends them and returns with nothing left running.
func TestServerStopBoundsInFlightCalls(t *testing.T) {
	leakcheck.Check(t)
	server := startTestServer(t, "")
	client := newTestClient(t, server.addr())
	started := make(chan struct{})
	group := newTestGroup(t, func(ctx context.Context, _ string, _ groupcache.Sink) error {
		close(started)
		<-ctx.Done()
		return ctx.Err()
	})
	callErr := make(chan error, 1)
	go func() {
		var out groupcachepb.GetResponse
		callErr <- client.Get(context.Background(), getRequest(group.Name(), "k"), &out)
	}()
	<-started

	start := time.Now()
	server.stop(100 * time.Millisecond)
	if elapsed := time.Since(start); elapsed < 100*time.Millisecond || elapsed > 2*time.Second {
		t.Errorf("stop returned after %v, want the 100ms grace period and a prompt Stop", elapsed)
	}
	if err := <-callErr; status.Code(err) != codes.Unavailable {
		t.Errorf("call in flight during stop: %v, want Unavailable", err)
	}
}

// TestStartServer checks listening on IPv4 and bracketed IPv6 addresses, and that a
// listen error names the address.
func TestStartServer(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	tests := []struct {
		name    string
		listen  string
		wantErr string // empty: the server starts and answers
	}{
		{"IPv4", "127.0.0.1:0", ""},
		{"IPv6, bracketed", "[::1]:0", ""},
		{"address in use", busy.Addr().String(), busy.Addr().String()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if strings.HasPrefix(tt.listen, "[::1]") && !hasIPv6Loopback() {
				t.Skip("no IPv6 loopback on this machine")
			}
			leakcheck.Check(t)
			srv, err := startServer(tt.listen, defaultConfig(), newGetService(&counters{}, &loopGuard{}, defaultConfig()))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("startServer(%s): %v, want an error naming %s", tt.listen, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("startServer(%s): %v", tt.listen, err)
			}
			t.Cleanup(func() { srv.stop(time.Second) })
			group := newTestGroup(t, echoGetter)
			var out groupcachepb.GetResponse
			err = newTestClient(t, srv.addr()).Get(requestContext(t, 5*time.Second), getRequest(group.Name(), "k"), &out)
			if err != nil || string(out.Value) != valueOf("k") {
				t.Errorf("Get from %s: %q, %v; want %q", srv.addr(), out.Value, err, valueOf("k"))
			}
		})
	}
}

// hasIPv6Loopback reports whether ::1 can be listened on.
func hasIPv6Loopback() bool {
	l, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		return false
	}
	_ = l.Close()
	return true
}

// TestManagersOnOneGRPCServer: grpc cannot unregister a service and ends the process on a
// duplicate registration or one after Serve. A manager given a server with WithGRPCServer
// registers the service once per server; later managers on it (after Close, or after a
// manager failed to start) reuse that registration, also while the server is serving.
// What cannot work is a clear error, never an exit, and leaves no goroutine behind.
func TestManagersOnOneGRPCServer(t *testing.T) {
	leakcheck.Check(t)
	newManager := func(srv *grpc.Server, opts ...Option) (*PeersManager, error) {
		api := fakeapi.Start(t, testNamespace, fakeapi.Listing(10, readySlice("x", "10.0.0.1", "10.0.0.2")))
		opts = append([]Option{WithGRPCServer(srv), WithoutPeerPickerRegistration(), noHandoff, quietLogs}, opts...)
		return NewPeersManager(t.Context(), api.Clientset(), testService, testNamespace, 8080, "10.0.0.1:8080", opts...)
	}
	serve := func(srv *grpc.Server) string {
		lis, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		go srv.Serve(lis)
		t.Cleanup(srv.Stop)
		return lis.Addr().String()
	}
	group := newTestGroup(t, echoGetter)
	get := func(addr string) error {
		var out groupcachepb.GetResponse
		return newTestClient(t, addr).Get(requestContext(t, 5*time.Second), getRequest(group.Name(), "k"), &out)
	}

	srv := grpc.NewServer()
	first, err := newManager(srv)
	if err != nil {
		t.Fatalf("first manager on a new server: %v", err)
	}
	addr := serve(srv)
	if _, err := newManager(srv); err == nil || !strings.Contains(err.Error(), "already serves groupcache") {
		t.Fatalf("second manager while the first is open: %v, want an error saying another manager serves", err)
	}
	if err := get(addr); err != nil {
		t.Fatalf("Get through the first manager: %v", err)
	}
	first.Close()
	if err := get(addr); status.Code(err) != codes.Unavailable {
		t.Fatalf("Get with no open manager on the server: %v, want Unavailable", err)
	}

	// A manager that fails to start after attaching leaves the server to the next one.
	registered, err := newManager(grpc.NewServer(), func(c *config) { c.register = true })
	if err != nil {
		t.Fatal(err)
	}
	if _, err := newManager(srv, func(c *config) { c.register = true }); !errors.Is(err, ErrAlreadyRegistered) {
		t.Fatalf("manager registering twice: %v, want ErrAlreadyRegistered", err)
	}
	registered.Close()

	later, err := newManager(srv) // the server is serving by now
	if err != nil {
		t.Fatalf("a later manager on a serving server after Close: %v", err)
	}
	defer later.Close()
	served := later.Stats().ServerRequests
	if err := get(addr); err != nil {
		t.Fatalf("Get through the later manager: %v", err)
	}
	if got := later.Stats().ServerRequests - served; got != 1 {
		t.Errorf("the later manager served %d requests, want 1", got)
	}

	t.Run("first manager on a server that is already serving", func(t *testing.T) {
		srv := grpc.NewServer()
		// Serve has started once the server answered a call, with Unimplemented: it has
		// no service yet.
		client := newTestClient(t, serve(srv))
		if _, err := client.Peek(requestContext(t, 10*time.Second), "g", "k"); status.Code(err) != codes.Unimplemented {
			t.Fatalf("a peek of a server without services: %v, want Unimplemented", err)
		}
		if _, err := newManager(srv); err == nil || !strings.Contains(err.Error(), "before calling its Serve") {
			t.Fatalf("err = %v, want an error saying to create the manager before Serve", err)
		}
	})
	t.Run("server with another implementation of the service", func(t *testing.T) {
		srv := grpc.NewServer()
		desc := groupCacheServiceDesc
		srv.RegisterService(&desc, newGetService(&counters{}, &loopGuard{}, defaultConfig()))
		if _, err := newManager(srv); err == nil || !strings.Contains(err.Error(), "not this library's") {
			t.Fatalf("err = %v, want an error naming the other implementation", err)
		}
	})
}

// TestPaddedRequestsDoNotPinMemory: a peer's request padded with an unknown field costs
// the cache only its key. Thirty Gets of distinct keys, each padded with 4 MiB, to a
// group with a 1 MiB cache: the request's key used to be a substring of the whole
// message, which groupcache's cache kept alive while counting only the key's length
// (the heap grew by 120 MiB while the cache reported 200 bytes).
func TestPaddedRequestsDoNotPinMemory(t *testing.T) {
	const gets, padding = 30, 4 << 20
	p := newTestPair(t)
	name := fmt.Sprintf("%s#%d", t.Name(), groupSeq.Add(1))
	group := groupcache.NewGroup(name, 1<<20, groupcache.GetterFunc(func(_ context.Context, key string, dest groupcache.Sink) error {
		return dest.SetString("v")
	}))
	pad := binary.AppendUvarint([]byte{15<<3 | 2}, padding) // field 15, length-delimited
	pad = append(pad, make([]byte, padding)...)

	// The live heap: two collections, since buffers grpc keeps in its sync.Pool-backed
	// pools (a 4 MiB request's marshalling buffer among them, up to one per P) survive
	// the first one. Counted after one, they grew the heap by 26 MiB on a many-core CI
	// machine; they are not pinned, the second collection frees them.
	heap := func() uint64 {
		runtime.GC()
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	before := heap()
	for i := range gets {
		req := getRequest(name, fmt.Sprintf("key-%d", i))
		req.XXX_unrecognized = pad
		var resp groupcachepb.GetResponse
		if err := p.client.Get(requestContext(t, 10*time.Second), req, &resp); err != nil {
			t.Fatalf("Get %d: %v", i, err)
		}
	}
	grown := int64(heap()) - int64(before)
	runtime.KeepAlive(pad) // counted in both
	cache := group.CacheStats(groupcache.MainCache)
	if cache.Items != gets {
		t.Fatalf("the cache holds %d items, want %d", cache.Items, gets)
	}
	if grown > padding {
		t.Errorf("the heap grew by %d KiB for %d cached items of %d bytes in all; want under %d KiB, one request's padding",
			grown>>10, cache.Items, cache.Bytes, padding>>10)
	}
}

// TestPeekMissNamesThePreviousOwners: a pod that misses a peek names the key's previous
// owners by its own past rings within the window, newest first, in the answer; with none
// (or outside the window) the answer is a plain NotFound. In a rolling update a key often
// changed owners twice while nobody asked for it, and its new owner, which knew only the
// owner between, loaded it again.
func TestPeekMissNamesThePreviousOwners(t *testing.T) {
	leakcheck.Check(t)
	older, newer := testRing(t, "q:1", "r:1"), testRing(t, "r:1", "x:1")
	now := testRing(t, "p:1", "r:1", "x:1")
	var key string // owned by q, then x, then p
	for i := 0; key == ""; i++ {
		if k := "k" + strconv.Itoa(i); ownedBy(older, k, "q:1") && ownedBy(newer, k, "x:1") && ownedBy(now, k, "p:1") {
			key = k
		}
	}
	peers := map[string]peerGetter{"q:1": &fakePeeker{}, "r:1": &fakePeeker{}, "x:1": &fakePeeker{}}
	past := []pastRing{{ring: newer, until: time.Now()}, {ring: older, until: time.Now()}}
	tests := []struct {
		name    string
		handoff *handoffState
		clients map[string]peerGetter
		want    []string // nil: a plain NotFound
	}{
		{name: "two previous owners", handoff: &handoffState{self: "p:1", past: past}, clients: peers, want: []string{"x:1", "q:1"}},
		{name: "one of them no longer a peer", handoff: &handoffState{self: "p:1", past: past},
			clients: map[string]peerGetter{"q:1": peers["q:1"]}, want: []string{"q:1"}},
		{name: "outside the window", clients: peers},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig(WithHandoff(Handoff{Window: time.Minute}))
			svc := newGetService(&counters{}, &loopGuard{}, cfg)
			svc.routing = func() *snapshot {
				return &snapshot{ring: now, self: slices.Index(now.members(), "p:1"), handoff: tt.handoff, clients: tt.clients}
			}
			srv, err := startServer("127.0.0.1:0", cfg, svc)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { srv.stop(time.Second) })
			group := newTestGroup(t, echoGetter) // caches nothing: every peek misses
			_, err = newTestClient(t, srv.addr()).Peek(t.Context(), group.Name(), key)
			var miss *peekMissed
			switch {
			case status.Code(err) != codes.NotFound:
				t.Fatalf("Peek: %v, want codes.NotFound", err)
			case tt.want == nil && errors.As(err, &miss):
				t.Errorf("Peek named %v, want no previous owner", miss.previous)
			case tt.want != nil && (!errors.As(err, &miss) || !slices.Equal(miss.previous, tt.want)):
				t.Errorf("Peek: %v (%#v), want previous owners %v", err, miss, tt.want)
			}
		})
	}
}
