package k8s

// Tests of the peer client: round trips, message sizes, the call timeout, a closed client
// and TLS.

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/golang/groupcache"
	"github.com/golang/groupcache/groupcachepb"
	"github.com/groupcache-k8s/k8s/internal/leakcheck"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
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
			name:       "TLS without a server name verifies the peer's IP",
			serverOpts: []Option{serverSide(tlsCreds(pki.serverTLS(false)))},
			clientOpts: []Option{clientSide(tlsCreds(pki.clientTLS("", false)))},
			wantOK:     true,
		},
		{
			name: "mutual TLS, the same WithTransportCredentials on both pods",
			serverOpts: []Option{WithTransportCredentials(tlsCreds(pki.serverTLS(true)),
				tlsCreds(pki.clientTLS(testServerName, true)))},
			clientOpts: []Option{WithTransportCredentials(tlsCreds(pki.serverTLS(true)),
				tlsCreds(pki.clientTLS(testServerName, true)))},
			wantOK: true,
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
			leakcheck.Check(t)
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

// assertCount fails t if the counter what is not want.
func assertCount(t *testing.T, what string, got, want int64) {
	t.Helper()
	if got != want {
		t.Errorf("%s = %d, want %d", what, got, want)
	}
}
