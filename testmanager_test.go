package k8s

// The managers of the tests: started against the fake API server (internal/fakeapi) and
// closed when the test ends.

import (
	"context"
	"testing"

	"github.com/groupcache-k8s/k8s/internal/fakeapi"
	"github.com/groupcache-k8s/k8s/internal/leakcheck"
	"google.golang.org/grpc"
)

// newManager starts a manager of the test Service for self ("ip:port") with ctx and
// exactly opts (after quietLogs, which a WithLogger in opts overrides), against a fake
// API server that answers from stream. It returns what NewPeersManager returns, and the
// server. The test's cleanup closes the manager, if it started, and then the server.
func newManager(ctx context.Context, t testing.TB, stream *fakeapi.Stream, self string, opts ...Option) (*PeersManager, *fakeapi.Server, error) {
	t.Helper()
	api := fakeapi.Start(t, testNamespace, stream)
	opts = append([]Option{quietLogs}, opts...)
	m, err := NewPeersManager(ctx, api.Clientset(), testService, testNamespace, portOf(t, self), self, opts...)
	if err == nil {
		t.Cleanup(func() { m.Close() })
	}
	return m, api, err
}

// quietOptions are the options of most tests' managers, followed by opts: a gRPC server
// of its own that never serves, no groupcache registration, and no hand-off (so Shutdown
// does not drain).
func quietOptions(opts ...Option) []Option {
	return append([]Option{WithGRPCServer(grpc.NewServer()), WithoutPeerPickerRegistration(), noHandoff}, opts...)
}

// startManager starts a manager for self against a fake API server that answers from
// stream, with quietOptions(opts...). It closes the manager when the test ends, and then
// checks that nothing the test started is left running.
func startManager(t testing.TB, stream *fakeapi.Stream, self string, opts ...Option) (*PeersManager, *fakeapi.Server) {
	t.Helper()
	leakcheck.Check(t)
	m, api, err := newManager(t.Context(), t, stream, self, quietOptions(opts...)...)
	if err != nil {
		t.Fatalf("NewPeersManager: %v", err)
	}
	return m, api
}

// startFromStream replays the stream file name to a manager with an instant clock: its
// waits end at once, and a watch the stream holds open silently sees the idle timeout
// pass. It returns once the manager has consumed the whole stream.
func startFromStream(t *testing.T, name, self string, opts ...Option) (*PeersManager, *fakeapi.Server, *fakeClock) {
	t.Helper()
	clk := newInstantClock()
	stream := fakeapi.Load(t, name)
	stream.OnHold = func() { clk.Advance(defaultWatchIdleTimeout) }
	opts = append([]Option{withClock(clk), withRand(func() float64 { return 0.5 })}, opts...)
	m, api := startManager(t, stream, self, opts...)
	api.WaitCaughtUp(t)
	return m, api, clk
}

func portOf(t testing.TB, self string) int {
	ap, err := parseSelf(self)
	if err != nil {
		t.Fatal(err)
	}
	return int(ap.Port())
}
