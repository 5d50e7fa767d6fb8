package k8s

import (
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/golang/groupcache/groupcachepb"
	"github.com/groupcache-k8s/k8s/internal/leakcheck"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/status"
)

// withConnIdle sets how long a server keeps an idle peer connection.
func withConnIdle(d time.Duration) Option { return func(c *config) { c.connIdle = d } }

// TestPeerChannel: the clients of several peers share one channel. Each call reaches the
// server of its own peer; a peer is connected by its first call only, and closed by its
// server after the idle timeout, and the next call opens it again; a closed client fails
// its calls with Canceled and a peer that refuses connections fails them at once, while
// the other peers of the channel keep working.
func TestPeerChannel(t *testing.T) {
	leakcheck.Check(t)
	port := strconv.Itoa(freePort(t))
	a := startTestServer(t, net.JoinHostPort("127.0.0.1", port), withConnIdle(300*time.Millisecond))
	b := startTestServer(t, net.JoinHostPort("127.0.0.2", port))
	cfg := testConfig()
	channel := newTestChannel(t, cfg)
	client := func(addr string) *peerClient {
		c := newPeerClient(addr, channel, cfg, &counters{}, &loopGuard{})
		t.Cleanup(func() { c.Close() })
		return c
	}
	toA, toB, toNobody := client(a.addr()), client(b.addr()), client(net.JoinHostPort("127.0.0.3", port))
	group := newTestGroup(t, echoGetter)
	get := func(c *peerClient) error {
		var out groupcachepb.GetResponse
		err := c.Get(requestContext(t, 5*time.Second), getRequest(group.Name(), "k"), &out)
		if err == nil && string(out.Value) != valueOf("k") {
			t.Fatalf("Get from %s = %q, want %q", c.addr, out.Value, valueOf("k"))
		}
		return err
	}
	wantState := func(c *peerClient, want connectivity.State) {
		t.Helper()
		if got := c.conn.connState(); got != want {
			t.Fatalf("connection to %s is %v, want %v", c.addr, got, want)
		}
	}

	wantState(toA, connectivity.Idle) // no connection before the first call
	wantState(toB, connectivity.Idle)
	for _, step := range []struct {
		client *peerClient
		calls  int
	}{{toA, 3}, {toB, 2}} {
		for range step.calls {
			if err := get(step.client); err != nil {
				t.Fatalf("Get from %s: %v", step.client.addr, err)
			}
		}
		wantState(step.client, connectivity.Ready)
	}
	assertCount(t, "requests served by A", a.stats.serverRequests.Load(), 3)
	assertCount(t, "requests served by B", b.stats.serverRequests.Load(), 2)

	// A closes the idle connection; the next call opens a new one.
	waitUntil(t, "A closes the idle connection", func() bool { return toA.conn.connState() == connectivity.Idle })
	if err := get(toA); err != nil {
		t.Fatalf("Get from A after its server closed the idle connection: %v", err)
	}
	wantState(toA, connectivity.Ready)

	start := time.Now()
	for i := range 2 {
		if err := get(toNobody); status.Code(err) != codes.Unavailable {
			t.Fatalf("Get %d from a peer that refuses connections: %v, want Unavailable", i+1, err)
		}
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("two calls to a peer that refuses connections took %v; they must fail at once", d)
	}

	toB.Close()
	if err := get(toB); status.Code(err) != codes.Canceled {
		t.Fatalf("Get from a closed client: %v, want Canceled", err)
	}
	wantState(toB, connectivity.Shutdown)
	if err := get(toA); err != nil {
		t.Fatalf("Get from A after B's client closed: %v", err)
	}
	assertCount(t, "requests served by A", a.stats.serverRequests.Load(), 5)
}

// TestReturningPeerKeepsItsByteCount: a peer that left and came back while its old
// client was still open gets a new client before the old one is closed (the router closes
// retired clients outside its lock). Closing the old client dropped the count of bytes
// the new one reads, and the new client's connections counted into one nobody read; the
// liveness check then saw no bytes from a peer sending large values.
func TestReturningPeerKeepsItsByteCount(t *testing.T) {
	leakcheck.Check(t)
	server := startTestServer(t, "")
	cfg := testConfig()
	channel := newTestChannel(t, cfg)
	old := newPeerClient(server.addr(), channel, cfg, &counters{}, &loopGuard{})
	back := newPeerClient(server.addr(), channel, cfg, &counters{}, &loopGuard{})
	defer back.Close()
	old.Close()
	group := newTestGroup(t, echoGetter)
	var out groupcachepb.GetResponse
	if err := back.Get(t.Context(), getRequest(group.Name(), "k"), &out); err != nil {
		t.Fatal(err)
	}
	if back.received.Load() == 0 {
		t.Error("the returning peer's client counts none of the bytes read from its connection")
	}
	back.Close()
	channel.mu.Lock()
	defer channel.mu.Unlock()
	if n := len(channel.received); n != 0 {
		t.Errorf("%d byte counts left after every client of the peer closed", n)
	}
}
