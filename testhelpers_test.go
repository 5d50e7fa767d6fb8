package k8s

// Helpers of the tests: groups and requests, an in-process client and server, and a
// buffer for logs.

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang/groupcache"
	"github.com/golang/groupcache/groupcachepb"
	"github.com/groupcache-k8s/k8s/internal/leakcheck"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
)

// --- groups and requests ---

// groupSeq makes group names unique: groupcache's registry is global and panics on a
// duplicate name, also with -count=2.
var groupSeq atomic.Int64

// newTestGroup creates a group that caches nothing, so every Get reaches getter.
func newTestGroup(t *testing.T, getter groupcache.GetterFunc) *groupcache.Group {
	t.Helper()
	name := fmt.Sprintf("%s#%d", t.Name(), groupSeq.Add(1))
	return groupcache.NewGroup(name, 0, getter)
}

// getRequest builds the request groupcache sends for key of group.
func getRequest(group, key string) *groupcachepb.GetRequest {
	return &groupcachepb.GetRequest{Group: &group, Key: &key}
}

// --- in-process client and server ---

// testServer is a server started on 127.0.0.1:0 and stopped when the test ends.
type testServer struct {
	*grpcServer
	stats *counters
	guard *loopGuard
}

// startTestServer starts a server configured by opts on listen (127.0.0.1:0 if empty).
func startTestServer(t *testing.T, listen string, opts ...Option) *testServer {
	t.Helper()
	if listen == "" {
		listen = "127.0.0.1:0"
	}
	cfg := testConfig(opts...)
	svc := newGetService(&counters{}, &loopGuard{}, cfg)
	srv, err := startServer(listen, cfg, svc)
	if err != nil {
		t.Fatalf("startServer(%s): %v", listen, err)
	}
	t.Cleanup(func() { srv.stop(time.Second) })
	return &testServer{grpcServer: srv, stats: svc.stats, guard: svc.guard}
}

// testClient is a peer client closed when the test ends.
type testClient struct {
	*peerClient
	stats *counters
}

// newTestClient creates the client of the peer at addr, configured by opts.
func newTestClient(t *testing.T, addr string, opts ...Option) *testClient {
	t.Helper()
	cfg := testConfig(opts...)
	stats := &counters{}
	client := newPeerClient(addr, newTestChannel(t, cfg), cfg, stats, &loopGuard{})
	t.Cleanup(func() { _ = client.Close() })
	return &testClient{peerClient: client, stats: stats}
}

// newTestChannel creates a peer channel configured by cfg, closed when the test ends.
func newTestChannel(t *testing.T, cfg *config) *peerChannel {
	t.Helper()
	dialOpts, err := cfg.clientDialOptions()
	if err != nil {
		t.Fatalf("clientDialOptions: %v", err)
	}
	ch, err := newPeerChannel(dialOpts)
	if err != nil {
		t.Fatalf("newPeerChannel: %v", err)
	}
	t.Cleanup(func() { _ = ch.Close() })
	return ch
}

// testPair is a client connected to a server, both configured by opts. It also checks
// that the test leaves no goroutine behind.
type testPair struct {
	server *testServer
	client *testClient
}

// newTestPair starts a server and its client, configured by the same opts.
func newTestPair(t *testing.T, opts ...Option) testPair {
	t.Helper()
	leakcheck.Check(t)
	server := startTestServer(t, "", opts...)
	return testPair{server: server, client: newTestClient(t, server.addr(), opts...)}
}

// testConfig is the default config with quietLogs and then opts applied.
func testConfig(opts ...Option) *config {
	cfg := defaultConfig()
	quietLogs(cfg)
	for _, opt := range opts {
		opt(cfg)
	}
	return cfg
}

// serverSide sets creds as the server credentials of a config used only to serve.
func serverSide(creds credentials.TransportCredentials) Option {
	return WithTransportCredentials(creds, insecure.NewCredentials())
}

// clientSide sets creds as the client credentials of a config used only to dial.
func clientSide(creds credentials.TransportCredentials) Option {
	return WithTransportCredentials(insecure.NewCredentials(), creds)
}

// requestContext is the context of one test request.
func requestContext(t *testing.T, timeout time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	t.Cleanup(cancel)
	return ctx
}

// syncBuffer is a bytes.Buffer safe for a logger and a reader in different goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// freePort returns a port free on both 127.0.0.1 and 127.0.0.2, so two "pods" can
// serve on the same port as Kubernetes peers do.
func freePort(t *testing.T) int {
	for range 20 {
		l1, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := l1.Addr().(*net.TCPAddr).Port
		l2, err := net.Listen("tcp", "127.0.0.2:"+strconv.Itoa(port))
		l1.Close()
		if err == nil {
			l2.Close()
			return port
		}
	}
	t.Fatal("no port free on both 127.0.0.1 and 127.0.0.2")
	return 0
}

// noHandoff turns the hand-off off for tests about something else, so that Close does
// not drain; unlike WithHandoff(Handoff{Off: true}) it leaves WithHandoff usable after it.
func noHandoff(c *config) { c.handoff.Off = true }

// quietLogs discards the manager's logs, which would otherwise go to slog.Default() and
// bury a failing test's output under the membership changes of passing ones; like
// noHandoff it leaves WithLogger usable after it, for a test that reads the logs.
func quietLogs(c *config) { c.logger = slog.New(slog.DiscardHandler) }
