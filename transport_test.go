package k8s

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang/groupcache"
	"github.com/golang/groupcache/groupcachepb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/status"
)

// valueOf is the value the echo getter stores for key.
func valueOf(key string) string { return "value of " + key + "\xff\x00" }

// echoGetter loads valueOf(key).
func echoGetter(_ context.Context, key string, dest groupcache.Sink) error {
	return dest.SetString(valueOf(key))
}

// TestGetRoundTrip sends keys of every kind through a real server and group and
// checks the values and the request counters on both sides.
func TestGetRoundTrip(t *testing.T) {
	p := newTestPair(t)
	group := newTestGroup(t, echoGetter)
	tests := []struct {
		name, key string
	}{
		{"ascii key", "user/42"},
		{"key that is not UTF-8", "\xff\xfe\x00bin"},
		{"empty key", ""},
		{"unicode key", "ключ-键"},
		{"long key", strings.Repeat("k", 100_000)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out groupcachepb.GetResponse
			if err := p.client.Get(requestContext(t, 5*time.Second), getRequest(group.Name(), tt.key), &out); err != nil {
				t.Fatalf("Get: %v", err)
			}
			if got, want := string(out.Value), valueOf(tt.key); got != want {
				t.Errorf("value = %q, want %q", got, want)
			}
			if out.MinuteQps != nil {
				t.Errorf("MinuteQps = %v, want unset", *out.MinuteQps)
			}
		})
	}
	n := int64(len(tests))
	assertCount(t, "client peerRPCs", p.client.stats.peerRPCs.Load(), n)
	assertCount(t, "client peerErrors", p.client.stats.peerErrors.Load(), 0)
	assertCount(t, "server serverRequests", p.server.stats.serverRequests.Load(), n)
	assertCount(t, "group Stats.ServerRequests", group.Stats.ServerRequests.Get(), n)
}

// TestGetLargeValueWithDefaults checks that a 64 MiB value fits the default limits.
func TestGetLargeValueWithDefaults(t *testing.T) {
	const size = 64 << 20
	want := bytes.Repeat([]byte("0123456789abcdef"), size/16)
	p := newTestPair(t)
	group := newTestGroup(t, func(_ context.Context, _ string, dest groupcache.Sink) error {
		return dest.SetBytes(want)
	})
	var out groupcachepb.GetResponse
	if err := p.client.Get(requestContext(t, 20*time.Second), getRequest(group.Name(), "big"), &out); err != nil {
		t.Fatalf("Get of a %d MiB value with the default options: %v", size>>20, err)
	}
	if !bytes.Equal(out.Value, want) {
		t.Errorf("got %d bytes that differ from the %d bytes sent", len(out.Value), len(want))
	}
}

// TestMaxMessageSize checks that WithMaxMessageSize applies to requests and responses
// and that a message above it fails at once with ResourceExhausted.
func TestMaxMessageSize(t *testing.T) {
	const limit = 1024
	p := newTestPair(t, WithMaxMessageSize(limit))
	group := newTestGroup(t, func(_ context.Context, key string, dest groupcache.Sink) error {
		var size int
		if _, err := fmt.Sscanf(key, "size=%d", &size); err != nil {
			size = 1
		}
		return dest.SetBytes(bytes.Repeat([]byte{'v'}, size))
	})
	tests := []struct {
		name string
		key  string
		want codes.Code
	}{
		{"value below the limit", "size=512", codes.OK},
		{"value above the limit", "size=4096", codes.ResourceExhausted},
		{"request above the limit", "size=1 " + strings.Repeat("k", 4*limit), codes.ResourceExhausted},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out groupcachepb.GetResponse
			err := p.client.Get(requestContext(t, 5*time.Second), getRequest(group.Name(), tt.key), &out)
			if got := status.Code(err); got != tt.want {
				t.Fatalf("Get: code %v (%v), want %v", got, err, tt.want)
			}
		})
	}
}

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
	}{
		{"value", getRequest(name, "good"), codes.OK, "", 1},
		{"getter error", getRequest(name, "fails"), codes.Unknown, "backend is down", 1},
		{"getter status error passes through", getRequest(name, "denied"), codes.PermissionDenied, "backend says no", 1},
		{"getter context error", getRequest(name, "slow backend"), codes.DeadlineExceeded, "querying the backend", 1},
		{"unknown group", getRequest("no-such-group", "k"), codes.NotFound, `"no-such-group"`, 0},
		{"no group", &groupcachepb.GetRequest{Key: new("k")}, codes.InvalidArgument, "no group", 0},
		{"no key is the empty key, as proto3 senders leave it off", &groupcachepb.GetRequest{Group: &name}, codes.OK, "", 1},
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

// TestLoopGuard checks both sides of the loop guard: the client does not forward exactly
// the group and key its server is loading for a peer, and the server refuses at once
// exactly the group and key its client is forwarding; everything else goes through.
func TestLoopGuard(t *testing.T) {
	p := newTestPair(t)
	group := newTestGroup(t, echoGetter).Name()
	other := newTestGroup(t, echoGetter).Name()
	tests := []struct {
		name          string
		clientServing *guardKey // a peer's request the client's process is loading
		serverSending *guardKey // a key the server's process is forwarding
		req           *groupcachepb.GetRequest
		wantRefused   string // "client", "server" or ""
	}{
		{name: "nothing in flight", req: getRequest(group, "k")},
		{name: "key the caller's process is loading for a peer",
			clientServing: &guardKey{group, "k"}, req: getRequest(group, "k"), wantRefused: "client"},
		{name: "nested load of another key",
			clientServing: &guardKey{group, "k"}, req: getRequest(group, "other")},
		{name: "same key of another group",
			clientServing: &guardKey{group, "k"}, req: getRequest(other, "k")},
		{name: "key the server's process is forwarding",
			serverSending: &guardKey{group, "k"}, req: getRequest(group, "k"), wantRefused: "server"},
		{name: "another key than the one the server's process is forwarding",
			serverSending: &guardKey{group, "k"}, req: getRequest(group, "other")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if k := tt.clientServing; k != nil {
				p.client.guard.startServe(k.group, k.key)
				defer p.client.guard.endServe(k.group, k.key)
			}
			if k := tt.serverSending; k != nil {
				p.server.guard.startForward(k.group, k.key)
				defer p.server.guard.endForward(k.group, k.key)
			}
			rpcs, clientLoops := p.client.stats.peerRPCs.Load(), p.client.stats.loopsPrevented.Load()
			served, serverLoops := p.server.stats.serverRequests.Load(), p.server.stats.loopsPrevented.Load()

			var out groupcachepb.GetResponse
			start := time.Now()
			err := p.client.Get(requestContext(t, 15*time.Second), tt.req, &out)
			if took := time.Since(start); took > time.Second {
				t.Errorf("Get took %v; the guard must answer at once", took)
			}
			wantRPCs, wantServed, wantClientLoops, wantServerLoops := int64(1), int64(1), int64(0), int64(0)
			switch tt.wantRefused {
			case "client":
				if !errors.Is(err, errForwardLoop) {
					t.Fatalf("Get: %v, want errForwardLoop", err)
				}
				wantRPCs, wantServed, wantClientLoops = 0, 0, 1
			case "server":
				if status.Code(err) != codes.Aborted {
					t.Fatalf("Get: %v, want Aborted", err)
				}
				wantServed, wantServerLoops = 0, 1
			default:
				if err != nil {
					t.Fatalf("Get: %v, want the request forwarded", err)
				}
				if got, want := string(out.Value), valueOf(tt.req.GetKey()); got != want {
					t.Errorf("value = %q, want %q", got, want)
				}
			}
			assertCount(t, "client peerRPCs", p.client.stats.peerRPCs.Load()-rpcs, wantRPCs)
			assertCount(t, "client loopsPrevented", p.client.stats.loopsPrevented.Load()-clientLoops, wantClientLoops)
			assertCount(t, "server serverRequests", p.server.stats.serverRequests.Load()-served, wantServed)
			assertCount(t, "server loopsPrevented", p.server.stats.loopsPrevented.Load()-serverLoops, wantServerLoops)
		})
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

// TestCallTimeout checks that the call timeout bounds every call, also one whose
// caller has a later deadline (an HTTP handler's 15 s: a peer call that waited that long
// held every caller of the key with it), and that a caller's earlier deadline is kept.
func TestCallTimeout(t *testing.T) {
	tests := []struct {
		name           string
		callTimeout    time.Duration
		callerDeadline time.Duration // zero: the caller's context has no deadline
		wantAfter      time.Duration // the call must not end before this
	}{
		{"no deadline: call timeout applies", 200 * time.Millisecond, 0, 200 * time.Millisecond},
		{"call timeout bounds a caller's later deadline", 200 * time.Millisecond, 15 * time.Second, 200 * time.Millisecond},
		{"caller's shorter deadline wins", 5 * time.Second, 200 * time.Millisecond, 200 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newTestPair(t, WithCallTimeout(tt.callTimeout))
			group := newTestGroup(t, func(ctx context.Context, _ string, _ groupcache.Sink) error {
				<-ctx.Done() // a backend that never answers
				return ctx.Err()
			})
			start := time.Now() // before the caller's deadline is set, so no call ends early
			ctx := context.Background()
			if tt.callerDeadline > 0 {
				ctx = requestContext(t, tt.callerDeadline)
			}
			var out groupcachepb.GetResponse
			err := p.client.Get(ctx, getRequest(group.Name(), "k"), &out)
			elapsed := time.Since(start)
			if status.Code(err) != codes.DeadlineExceeded {
				t.Fatalf("Get: %v, want DeadlineExceeded", err)
			}
			if limit := tt.wantAfter + 2*time.Second; elapsed < tt.wantAfter || elapsed > limit {
				t.Errorf("Get returned after %v, want between %v and %v", elapsed, tt.wantAfter, limit)
			}
		})
	}
}

// TestClosedClientFailsFast checks that a closed client fails calls at once, so a
// picker that still hands it out only causes local loads.
func TestClosedClientFailsFast(t *testing.T) {
	p := newTestPair(t)
	group := newTestGroup(t, echoGetter)
	if err := p.client.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	var out groupcachepb.GetResponse
	err := p.client.Get(requestContext(t, 5*time.Second), getRequest(group.Name(), "k"), &out)
	if status.Code(err) != codes.Canceled {
		t.Fatalf("Get after Close: %v, want Canceled", err)
	}
	assertCount(t, "peerErrors", p.client.stats.peerErrors.Load(), 1)
}

// TestServerStopBoundsInFlightCalls checks that stop waits for calls in flight only
// for its timeout, then ends them and returns with nothing left running.
func TestServerStopBoundsInFlightCalls(t *testing.T) {
	checkNoGoroutineLeaks(t)
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
			checkNoGoroutineLeaks(t)
			srv, err := startServer(tt.listen, defaultConfig(), &getService{stats: &counters{}, guard: &loopGuard{}})
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

// nopRegistrar stands for the user's own grpc.Server.
type nopRegistrar struct{}

// RegisterService does nothing.
func (nopRegistrar) RegisterService(*grpc.ServiceDesc, any) {}

// TestTransportCredentials checks which combinations of credential options are
// accepted and which side ends up insecure.
func TestTransportCredentials(t *testing.T) {
	creds := credentials.NewTLS(nil)
	tests := []struct {
		name       string
		opts       []Option
		wantErr    string // part of the error; empty: no error
		wantServer bool   // server credentials returned (else insecure)
		wantClient bool   // client credentials returned (else insecure)
	}{
		{"no option: insecure", nil, "", false, false},
		{"both sides", []Option{WithTransportCredentials(creds, creds)}, "", true, true},
		{"both sides with TLS configs", []Option{WithTLS(&tls.Config{}, &tls.Config{})}, "", true, true},
		{"server side only", []Option{WithTransportCredentials(creds, nil)}, "without client credentials", false, false},
		{"client side only", []Option{WithTLS(nil, &tls.Config{})}, "without server credentials", false, false},
		{"neither side given", []Option{WithTLS(nil, nil)}, "no credentials", false, false},
		{"own server, client only", []Option{WithGRPCServer(nopRegistrar{}), WithTLS(nil, &tls.Config{})}, "", false, true},
		{"own server, both sides", []Option{WithGRPCServer(nopRegistrar{}), WithTransportCredentials(creds, creds)}, "WithGRPCServer", false, false},
		{"own server, no option: insecure", []Option{WithGRPCServer(nopRegistrar{})}, "", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig(tt.opts...)
			server, client, err := cfg.transportCredentials()
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("transportCredentials: %v, want an error containing %q", err, tt.wantErr)
				}
				if _, err := cfg.clientDialOptions(); err == nil {
					t.Error("clientDialOptions: no error, want the credentials error")
				}
				if _, err := cfg.serverOptionList(); err == nil {
					t.Error("serverOptionList: no error, want the credentials error")
				}
				return
			}
			if err != nil {
				t.Fatalf("transportCredentials: %v", err)
			}
			if (server != nil) != tt.wantServer || (client != nil) != tt.wantClient {
				t.Errorf("got server credentials %v, client credentials %v; want %v, %v",
					server != nil, client != nil, tt.wantServer, tt.wantClient)
			}
		})
	}
}

// TestTLS runs TLS and mutual TLS handshakes with certificates made in the test, and
// checks that mismatched configurations are refused rather than left to time out.
func TestTLS(t *testing.T) {
	pki := newTestPKI(t)
	tlsCreds := credentials.NewTLS
	tests := []struct {
		name       string
		serverOpts []Option
		clientOpts []Option
		wantOK     bool
	}{
		{
			name:       "TLS",
			serverOpts: []Option{serverSide(tlsCreds(pki.serverTLS(false)))},
			clientOpts: []Option{clientSide(tlsCreds(pki.clientTLS(testServerName, false)))},
			wantOK:     true,
		},
		{
			name:       "mutual TLS, same WithTLS on both pods",
			serverOpts: []Option{WithTLS(pki.serverTLS(true), pki.clientTLS(testServerName, true))},
			clientOpts: []Option{WithTLS(pki.serverTLS(true), pki.clientTLS(testServerName, true))},
			wantOK:     true,
		},
		{
			name:       "TLS from the user's dial and server options, which win over the insecure default",
			serverOpts: []Option{WithServerOptions(grpc.Creds(tlsCreds(pki.serverTLS(false))))},
			clientOpts: []Option{WithDialOptions(grpc.WithTransportCredentials(tlsCreds(pki.clientTLS(testServerName, false))))},
			wantOK:     true,
		},
		{
			name:       "mutual TLS, client without a certificate",
			serverOpts: []Option{serverSide(tlsCreds(pki.serverTLS(true)))},
			clientOpts: []Option{clientSide(tlsCreds(pki.clientTLS(testServerName, false)))},
		},
		{
			name:       "TLS, client expects another server name",
			serverOpts: []Option{serverSide(tlsCreds(pki.serverTLS(false)))},
			clientOpts: []Option{clientSide(tlsCreds(pki.clientTLS("other.groupcache.test", false)))},
		},
		{
			name:       "plaintext client, TLS server",
			serverOpts: []Option{serverSide(tlsCreds(pki.serverTLS(false)))},
			clientOpts: nil,
		},
		{
			name:       "TLS client, plaintext server",
			serverOpts: nil,
			clientOpts: []Option{clientSide(tlsCreds(pki.clientTLS(testServerName, false)))},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkNoGoroutineLeaks(t)
			server := startTestServer(t, "", tt.serverOpts...)
			client := newTestClient(t, server.addr(), tt.clientOpts...)
			group := newTestGroup(t, echoGetter)

			var out groupcachepb.GetResponse
			err := client.Get(requestContext(t, 5*time.Second), getRequest(group.Name(), "k"), &out)
			if tt.wantOK {
				if err != nil || string(out.Value) != valueOf("k") {
					t.Fatalf("Get: %q, %v; want %q", out.Value, err, valueOf("k"))
				}
				return
			}
			// Refused at the handshake, not left to time out.
			if status.Code(err) != codes.Unavailable {
				t.Fatalf("Get: %v, want Unavailable", err)
			}
			assertCount(t, "server serverRequests", server.stats.serverRequests.Load(), 0)
		})
	}
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

// Names used by TestLoopPreventionAcrossProcesses and its children.
const (
	loopTest       = "TestLoopPreventionAcrossProcesses"
	loopGroup      = "loop"       // every key is owned by the other child
	loopStatsGroup = "loop-stats" // local only; its value reports the child's counters
	nestedPrefix   = "nested:"    // the getter of "nested:k" loads k through the group
)

// TestLoopPreventionAcrossProcesses runs two processes whose rings disagree: each says
// the other owns every key. Without the loop guard a request would bounce between them
// until the call timeout; with it, the process a peer asked loads the key itself,
// while nested loads of other keys are still forwarded.
func TestLoopPreventionAcrossProcesses(t *testing.T) {
	if name := os.Getenv(childEnv); name != "" {
		if err := runLoopChild(name, os.Stdin, os.Stdout); err != nil {
			fmt.Fprintf(os.Stderr, "child %s: %v\n", name, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	if testing.Short() {
		t.Skip("starts two processes")
	}

	names := []string{"A", "B"}
	children := []*childProcess{startChild(t, loopTest, names[0]), startChild(t, loopTest, names[1])}
	addrs := []string{children[0].expect(t, "addr "), children[1].expect(t, "addr ")}
	children[0].send(t, addrs[1])
	children[1].send(t, addrs[0])
	for _, c := range children {
		c.expect(t, "ready")
	}
	clients := []*testClient{newTestClient(t, addrs[0]), newTestClient(t, addrs[1])}

	tests := []struct {
		name  string
		child int // the child asked
		key   string
		want  string
	}{
		{"A loads the key it was asked for", 0, "k1", "A:k1"},
		{"B loads the key it was asked for", 1, "k1", "B:k1"},
		{"key that is not UTF-8", 0, "\xff\x00", "A:\xff\x00"},
		{"A forwards a nested key to B", 0, nestedPrefix + "k2", "A:nested(B:k2)"},
		{"B forwards a nested key to A", 1, nestedPrefix + "k3", "B:nested(A:k3)"},
	}
	wantLoops, wantRPCs := make([]int, 2), make([]int, 2)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			var out groupcachepb.GetResponse
			err := clients[tt.child].Get(context.Background(), getRequest(loopGroup, tt.key), &out)
			if elapsed := time.Since(start); elapsed > time.Second {
				t.Errorf("Get took %v; a forwarding loop waits for the %v call timeout", elapsed, DefaultCallTimeout)
			}
			if err != nil || string(out.Value) != tt.want {
				t.Fatalf("Get(%q) from %s: %q, %v; want %q", tt.key, names[tt.child], out.Value, err, tt.want)
			}
		})
		// The child asked refuses to send it back; a nested key goes to the other
		// child, which refuses to send that one back.
		wantLoops[tt.child]++
		if strings.HasPrefix(tt.key, nestedPrefix) {
			wantRPCs[tt.child]++
			wantLoops[1-tt.child]++
		}
	}

	for i, client := range clients {
		var out groupcachepb.GetResponse
		if err := client.Get(requestContext(t, 5*time.Second), getRequest(loopStatsGroup, "stats"), &out); err != nil {
			t.Fatalf("stats of %s: %v", names[i], err)
		}
		want := fmt.Sprintf("loopsPrevented=%d peerRPCs=%d", wantLoops[i], wantRPCs[i])
		if got := string(out.Value); got != want {
			t.Errorf("counters of %s: %s, want %s", names[i], got, want)
		}
	}
}

// TestForwardingCycleBreaksAtOnce: two processes each think the other owns every key, and
// each is asked the same key at the same time by a local caller with a 15 s deadline.
// Each one's load forwards the key to the other, so each server gets a request for a
// key its own process is forwarding. Joining that load would wait for the other
// process, which waits for this one: before the loop guard knew about forwards in
// flight, both callers waited their whole 15 s. Now each server refuses such a request
// at once, the caller loads the key itself, and both answers come in well under a
// second.
func TestForwardingCycleBreaksAtOnce(t *testing.T) {
	if name := os.Getenv(childEnv); name != "" {
		if err := runLoopChild(name, os.Stdin, os.Stdout); err != nil {
			fmt.Fprintf(os.Stderr, "child %s: %v\n", name, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	names := []string{"A", "B"}
	children := []*childProcess{
		startChild(t, "TestForwardingCycleBreaksAtOnce", names[0]),
		startChild(t, "TestForwardingCycleBreaksAtOnce", names[1]),
	}
	addrs := []string{children[0].expect(t, "addr "), children[1].expect(t, "addr ")}
	children[0].send(t, addrs[1])
	children[1].send(t, addrs[0])
	for _, c := range children {
		c.expect(t, "ready")
	}

	for i := range 3 {
		key := fmt.Sprintf("%sk%d", cyclePrefix, i)
		for _, c := range children {
			c.send(t, "get "+key)
		}
		for _, c := range children {
			var millis int64
			var result string
			if _, err := fmt.Sscanf(c.expect(t, "got "+key+" "), "%d %q", &millis, &result); err != nil {
				t.Fatalf("child %s: %v", c.name, err)
			}
			if result != "A:"+key && result != "B:"+key {
				t.Errorf("Get(%s) through %s = %q, want the value either child loads", key, c.name, result)
			}
			if took := time.Duration(millis) * time.Millisecond; took > time.Second {
				t.Errorf("Get(%s) through %s took %v; a forwarding cycle must break at once, not at a deadline",
					key, c.name, took)
			}
		}
	}
	var loops int64
	for i := range children {
		var out groupcachepb.GetResponse
		client := newTestClient(t, addrs[i])
		if err := client.Get(requestContext(t, 5*time.Second), getRequest(loopStatsGroup, "stats"), &out); err != nil {
			t.Fatalf("stats of %s: %v", names[i], err)
		}
		var n, rpcs int64
		if _, err := fmt.Sscanf(string(out.Value), "loopsPrevented=%d peerRPCs=%d", &n, &rpcs); err != nil {
			t.Fatalf("stats of %s: %q: %v", names[i], out.Value, err)
		}
		loops += n
	}
	if loops < 3 {
		t.Errorf("the children prevented %d loops in all; each of the 3 cycles needs at least one", loops)
	}
}

// runLoopChild is one process of TestLoopPreventionAcrossProcesses and
// TestForwardingCycleBreaksAtOnce. It serves on a free port and prints "addr <host:port>",
// reads the other child's address from stdin, picks it as the owner of every key of
// loopGroup, and prints "ready". Then, until stdin is closed, each line "get KEY" loads
// KEY through loopGroup as a local caller with a 15 s deadline (an HTTP handler's) and
// prints "got KEY MILLISECONDS VALUE-OR-ERROR" (the last one quoted).
//
// Its server holds a peer's request for a key with cyclePrefix until this child's own
// call for that key has gone out, so that both children's loads of such a key are
// certain to be forwarding to each other at the same time.
func runLoopChild(name string, stdin io.Reader, stdout io.Writer) error {
	forwards := &forwardSignals{}
	cfg := testConfig(
		WithServerOptions(grpc.UnaryInterceptor(forwards.holdCycleKeys)),
		WithDialOptions(grpc.WithUnaryInterceptor(forwards.markSent)))
	svc := &getService{stats: &counters{}, guard: &loopGuard{}, logger: cfg.logger}
	newLoopGroups(name, svc.stats)

	srv, err := startServer("127.0.0.1:0", cfg, svc)
	if err != nil {
		return err
	}
	defer srv.stop(time.Second)
	fmt.Fprintf(stdout, "addr %s\n", srv.addr())

	in := bufio.NewReader(stdin)
	line, err := in.ReadString('\n')
	if err != nil {
		return fmt.Errorf("reading the peer's address: %w", err)
	}
	dialOpts, err := cfg.clientDialOptions()
	if err != nil {
		return err
	}
	peer, err := newPeerClient(strings.TrimSpace(line), dialOpts, cfg, svc.stats, svc.guard)
	if err != nil {
		return err
	}
	defer peer.Close()
	groupcache.RegisterPerGroupPeerPicker(func(group string) groupcache.PeerPicker {
		if group == loopGroup {
			return ownerPicker{peer: peer}
		}
		return groupcache.NoPeers{}
	})
	fmt.Fprintln(stdout, "ready")

	var out sync.Mutex // "got" lines come from several goroutines
	var loads sync.WaitGroup
	defer loads.Wait()
	for {
		line, err := in.ReadString('\n')
		if err != nil {
			return nil // stdin closed: the parent asks us to exit
		}
		key, ok := strings.CutPrefix(strings.TrimSpace(line), "get ")
		if !ok {
			return fmt.Errorf("unknown command %q", line)
		}
		loads.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
			defer cancel()
			start := time.Now()
			var value string
			result := ""
			if err := groupcache.GetGroup(loopGroup).Get(ctx, key, groupcache.StringSink(&value)); err != nil {
				result = "error: " + err.Error()
			} else {
				result = value
			}
			out.Lock()
			defer out.Unlock()
			fmt.Fprintf(stdout, "got %s %d %q\n", key, time.Since(start).Milliseconds(), result)
		})
	}
}

// cyclePrefix marks the keys whose requests a loop child's server holds (see
// runLoopChild).
const cyclePrefix = "cycle:"

// forwardSignals tells a loop child's server when the child's own call for a key has
// gone out to the peer.
type forwardSignals struct {
	mu   sync.Mutex
	sent map[string]chan struct{} // closed once a call for the key has been sent
}

func (f *forwardSignals) of(key string) chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.sent == nil {
		f.sent = make(map[string]chan struct{})
	}
	if f.sent[key] == nil {
		f.sent[key] = make(chan struct{})
	}
	return f.sent[key]
}

// markSent is a client interceptor: it runs inside peerClient.Get, after the loop
// guard has recorded the forward, and signals that the call for the key is out.
func (f *forwardSignals) markSent(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn,
	invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	ch := f.of(req.(*groupcachepb.GetRequest).GetKey())
	f.mu.Lock()
	select {
	case <-ch:
	default:
		close(ch)
	}
	f.mu.Unlock()
	return invoker(ctx, method, req, reply, cc, opts...)
}

// holdCycleKeys is a server interceptor: a peer's request for a key with cyclePrefix
// waits until this child's own call for that key has been sent (at most 5 s).
func (f *forwardSignals) holdCycleKeys(ctx context.Context, req any, _ *grpc.UnaryServerInfo,
	handler grpc.UnaryHandler) (any, error) {
	if key := req.(*groupcachepb.GetRequest).GetKey(); strings.HasPrefix(key, cyclePrefix) {
		select {
		case <-f.of(key):
		case <-time.After(5 * time.Second):
		}
	}
	return handler(ctx, req)
}

// newLoopGroups creates the groups of a loop child named name.
func newLoopGroups(name string, stats *counters) {
	var group *groupcache.Group
	group = groupcache.NewGroup(loopGroup, 0, groupcache.GetterFunc(
		func(ctx context.Context, key string, dest groupcache.Sink) error {
			inner, nested := strings.CutPrefix(key, nestedPrefix)
			if !nested {
				return dest.SetString(name + ":" + key)
			}
			var value string
			if err := group.Get(ctx, inner, groupcache.StringSink(&value)); err != nil {
				return err
			}
			return dest.SetString(name + ":nested(" + value + ")")
		}))
	groupcache.NewGroup(loopStatsGroup, 0, groupcache.GetterFunc(
		func(_ context.Context, _ string, dest groupcache.Sink) error {
			return dest.SetString(fmt.Sprintf("loopsPrevented=%d peerRPCs=%d",
				stats.loopsPrevented.Load(), stats.peerRPCs.Load()))
		}))
}

// ownerPicker says peer owns every key.
type ownerPicker struct{ peer groupcache.ProtoGetter }

// PickPeer returns the peer.
func (p ownerPicker) PickPeer(string) (groupcache.ProtoGetter, bool) { return p.peer, true }

// TestLeakedGoroutinesDetectsALeak checks the goroutine leak helper itself.
func TestLeakedGoroutinesDetectsALeak(t *testing.T) {
	before := goroutineStacks()
	release := make(chan struct{})
	go func() { <-release }()
	if leaked := leakedGoroutines(before, 50*time.Millisecond); len(leaked) != 1 {
		t.Errorf("found %d new goroutines, want the 1 blocked one:\n%s", len(leaked), strings.Join(leaked, "\n\n"))
	}
	close(release)
	if leaked := leakedGoroutines(before, 5*time.Second); len(leaked) != 0 {
		t.Errorf("found %d goroutines after the blocked one exited, want none:\n%s", len(leaked), strings.Join(leaked, "\n\n"))
	}
}

// assertCount fails t if the counter what is not want.
func assertCount(t *testing.T, what string, got, want int64) {
	t.Helper()
	if got != want {
		t.Errorf("%s = %d, want %d", what, got, want)
	}
}
