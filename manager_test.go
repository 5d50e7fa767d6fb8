package k8s

// Tests of the manager: arguments, two pods serving each other, the clients' lifecycle,
// swaps under load, and Close.

import (
	"context"
	"fmt"
	"net"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang/groupcache"
	"github.com/golang/groupcache/groupcachepb"
	"github.com/groupcache-k8s/k8s/internal/fakeapi"
	"github.com/groupcache-k8s/k8s/internal/leakcheck"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"
)

// rebuilds collects the rings a manager publishes, through WithPeersChanged.
type rebuilds chan []string

func (r rebuilds) option() Option {
	return WithPeersChanged(func(p []string) { r <- p })
}

func (r rebuilds) next(t *testing.T) []string {
	t.Helper()
	select {
	case p := <-r:
		return p
	case <-time.After(10 * time.Second):
		t.Fatal("no ring rebuild within 10 s")
		return nil
	}
}

// managerCall holds the arguments of one NewPeersManager call.
type managerCall struct {
	ctx                      context.Context
	client                   kubernetes.Interface
	service, namespace, self string
	port                     int
	opts                     []Option
}

// with returns c with the argument named arg ("ctx", "client", "service", "namespace",
// "self" or "port") set to value, and opts added to its options.
func (c managerCall) with(arg string, value any, opts []Option) managerCall {
	switch arg {
	case "":
	case "ctx":
		c.ctx, _ = value.(context.Context)
	case "client":
		c.client, _ = value.(kubernetes.Interface)
	case "service":
		c.service = value.(string)
	case "namespace":
		c.namespace = value.(string)
	case "self":
		c.self = value.(string)
	case "port":
		c.port = value.(int)
	default:
		panic("no argument " + arg)
	}
	c.opts = append(slices.Clone(c.opts), opts...)
	return c
}

// TestNewPeersManagerRejectsBadArguments: each case is a valid call with one argument
// made bad. It fails NewPeersManager with an error naming that argument, before any
// request, and leaves no goroutine behind.
func TestNewPeersManagerRejectsBadArguments(t *testing.T) {
	leakcheck.Check(t)
	api := fakeapi.Start(t, testNamespace, &fakeapi.Stream{})
	valid := managerCall{ctx: t.Context(), client: api.Clientset(), service: "cache", namespace: "shop",
		self: "10.0.0.1:8080", port: 8080, opts: []Option{WithoutPeerPickerRegistration()}}
	pki := newTestPKI(t)
	serverCreds, clientCreds := credentials.NewTLS(pki.serverTLS(false)), credentials.NewTLS(pki.clientTLS("cache", false))
	cases := []struct {
		name  string
		arg   string // the argument made bad, if any
		value any    // its bad value
		opts  []Option
		want  string
	}{
		{name: "nil client", arg: "client", value: nil, want: "client is nil"},
		{name: "typed nil client", arg: "client", value: (*kubernetes.Clientset)(nil), want: "client is nil"},
		{name: "nil context", arg: "ctx", value: nil, want: "ctx is nil"},
		{name: "fake clientset", arg: "client", value: fake.NewClientset(), want: "no REST client"},
		{name: "bad service", arg: "service", value: "Cache_1", want: `service name "Cache_1"`},
		{name: "empty namespace", arg: "namespace", value: "", want: `namespace ""`},
		{name: "port 0", arg: "port", value: 0, want: "port 0"},
		{name: "self is a name", arg: "self", value: "cache-0:8080", want: "pod's IP"},
		{name: "self port differs", arg: "self", value: "10.0.0.1:9090", want: "has port 9090 but port is 8080"},
		{name: "call timeout", opts: []Option{WithCallTimeout(-1)}, want: "call timeout"},
		{name: "message size", opts: []Option{WithMaxMessageSize(0)}, want: "max message size"},
		{name: "startup timeout", opts: []Option{WithStartupTimeout(0)}, want: "startup timeout"},
		{name: "idle timeout", opts: []Option{WithWatchIdleTimeout(-time.Second)}, want: "idle timeout"},
		{name: "hand-off given twice", opts: []Option{WithHandoff(Handoff{}), WithHandoff(Handoff{Off: true})},
			want: "WithHandoff given more than once"},
		{name: "hand-off off with a drain", opts: []Option{WithHandoff(Handoff{Off: true, Drain: time.Second})},
			want: "Handoff is Off but sets Drain"},
		{name: "negative hand-off window", opts: []Option{WithHandoff(Handoff{Window: -time.Second})},
			want: "must not be negative"},
		{name: "credentials on one side", opts: []Option{WithTransportCredentials(nil, clientCreds)},
			want: "without server credentials"},
		{name: "a setting given twice", opts: []Option{WithCallTimeout(time.Second), WithLogger(nil), WithCallTimeout(2 * time.Second)},
			want: "WithCallTimeout given more than once"},
		{name: "a flag given twice", opts: []Option{WithoutPeerPickerRegistration()},
			want: "WithoutPeerPickerRegistration given more than once"},
		{name: "credentials twice", opts: []Option{WithTransportCredentials(serverCreds, clientCreds), WithTransportCredentials(nil, nil)},
			want: "more than once"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := valid.with(tc.arg, tc.value, tc.opts)
			m, err := NewPeersManager(c.ctx, c.client, c.service, c.namespace, c.port, c.self, c.opts...)
			if err == nil {
				m.Close()
				t.Fatal("NewPeersManager succeeded; want an error")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not mention %q", err, tc.want)
			}
			if len(api.Lists()) != 0 {
				t.Errorf("bad arguments must fail before any request; the API server saw %d", len(api.Lists()))
			}
		})
	}
}

// TestPeersServeEachOther: two pods on 127.0.0.1 and 127.0.0.2 with the same port,
// each with a real gRPC server. Every key is answered, by its owner, through the
// snapshot, the client and the owner's server.
func TestPeersServeEachOther(t *testing.T) {
	leakcheck.Check(t)
	port := freePort(t)
	slices := readySlice("cache-x1", "127.0.0.1", "127.0.0.2")
	var managers []*PeersManager
	for _, ip := range []string{"127.0.0.1", "127.0.0.2"} {
		self := net.JoinHostPort(ip, strconv.Itoa(port))
		m, _, err := newManager(t.Context(), t, fakeapi.Listing(10, slices), self, WithoutPeerPickerRegistration(), noHandoff)
		if err != nil {
			t.Fatal(err)
		}
		managers = append(managers, m)
	}
	for _, m := range managers {
		waitConnected(t, m)
	}
	// One process plays both pods, so the group records which server loaded a key.
	group := newTestGroup(t, func(ctx context.Context, key string, dest groupcache.Sink) error {
		return dest.SetString("value of " + key)
	})
	owned := map[int]int{}
	for i := range 200 {
		key := fmt.Sprintf("key-%d", i)
		for mi, m := range managers {
			peer, remote := m.PickPeer(key)
			if remote != (managers[1-mi].router.snapshot().ring.owner(key) == managers[1-mi].router.snapshot().self) {
				t.Fatalf("key %s: the two pods disagree about its owner", key)
			}
			if owner := m.Owner(key); (owner == m.self) == remote || owner != managers[1-mi].Owner(key) {
				t.Fatalf("Owner(%q) = %q on pod %d, %q on the other, PickPeer remote = %v", key, owner, mi, managers[1-mi].Owner(key), remote)
			}
			if !remote {
				owned[mi]++
				continue
			}
			if peer == nil {
				t.Fatalf("PickPeer(%q) = (nil, true)", key)
			}
			var out groupcachepb.GetResponse
			if err := peer.Get(t.Context(), getRequest(group.Name(), key), &out); err != nil {
				t.Fatalf("Get(%q) from the owner: %v", key, err)
			}
			if string(out.Value) != "value of "+key {
				t.Fatalf("Get(%q) = %q", key, out.Value)
			}
		}
	}
	if owned[0] < 60 || owned[1] < 60 {
		t.Errorf("keys owned by each pod: %v; want a fair split of 200", owned)
	}
	for mi, m := range managers {
		s := m.Stats()
		if s.PeerRPCs != int64(200-owned[mi]) || s.ServerRequests != int64(200-owned[1-mi]) || s.PeerErrors != 0 {
			t.Errorf("pod %d stats %+v; want %d peer RPCs and %d server requests", mi, s, 200-owned[mi], 200-owned[1-mi])
		}
	}
}

// graceManager is a manager of 10.0.0.1 with peer 10.0.0.2, a live watch stream, and a
// fake clock for its grace timers; closed receives the id of every client it closes.
type graceManager struct {
	m        *PeersManager
	live     chan string
	rebuilds rebuilds
	closed   chan string
	clock    *fakeClock
}

// startGraceManager starts a graceManager and waits for its first ring.
func startGraceManager(t *testing.T) graceManager {
	g := graceManager{live: make(chan string), rebuilds: make(rebuilds, 10), closed: make(chan string, 10),
		clock: newFakeClock()}
	g.m, _ = startManager(t, fakeapi.Listing(10, readySlice("cache-x1", "10.0.0.1", "10.0.0.2")).WithLive(g.live),
		"10.0.0.1:8080", g.rebuilds.option(), withClock(g.clock),
		func(c *config) { c.onClientClosed = func(id string) { g.closed <- id } })
	g.rebuilds.next(t)
	return g
}

// TestClientLifecycle: a peer that leaves keeps its connection for the grace period
// and gets it back if it returns in time; after the grace period it is closed, and a
// peer that comes back later gets a new one.
func TestClientLifecycle(t *testing.T) {
	g := startGraceManager(t)
	m, live, r, closed, grace := g.m, g.live, g.rebuilds, g.closed, g.clock
	first := m.router.snapshot().clients["10.0.0.2:8080"].(*peerClient)

	send := func(rv int, addrs ...string) []string {
		live <- fakeapi.EventFrame("MODIFIED", rv, readySlice("cache-x1", addrs...))
		return r.next(t)
	}
	if got := send(11, "10.0.0.1"); !slices.Equal(got, []string{"10.0.0.1:8080"}) {
		t.Fatalf("ring after the peer left = %v", got)
	}
	if first.conn.connState() == connectivity.Shutdown {
		t.Fatal("the connection closed at once; it must last the grace period")
	}
	send(12, "10.0.0.1", "10.0.0.2")
	if again := m.router.snapshot().clients["10.0.0.2:8080"]; again != first {
		t.Fatal("a peer back within the grace period must get its connection back")
	}
	send(13, "10.0.0.1")
	grace.Advance(clientGracePeriod) // the grace period ends
	if id := <-closed; id != "10.0.0.2:8080" || first.conn.connState() != connectivity.Shutdown {
		t.Fatalf("closed %s, state %v; want 10.0.0.2:8080 shut down", id, first.conn.connState())
	}
	send(14, "10.0.0.1", "10.0.0.2")
	if again := m.router.snapshot().clients["10.0.0.2:8080"]; again == first || again == nil {
		t.Fatal("a peer back after the grace period must get a new connection")
	}
	peer, _ := m.router.snapshot().pick(keyOwnedBy(t, m.router.snapshot(), "10.0.0.2:8080"))
	if peer != m.router.snapshot().clients["10.0.0.2:8080"] {
		t.Fatal("the snapshot hands out a different client than the current one")
	}
}

// TestClientOfAPeerThatLeftTwiceIsClosed: a peer leaves, its grace timer fires but the
// callback has not run yet (it waits for the manager's lock), the peer comes back and
// leaves again. The late callback must not strand the peer's first client: every client
// the manager made is closed by the end, none keeps reconnecting to a gone pod.
func TestClientOfAPeerThatLeftTwiceIsClosed(t *testing.T) {
	g := startGraceManager(t)
	m, live, r, closed, grace := g.m, g.live, g.rebuilds, g.closed, g.clock
	send := func(rv int, addrs ...string) {
		live <- fakeapi.EventFrame("MODIFIED", rv, readySlice("cache-x1", addrs...))
		r.next(t)
	}
	const peer = "10.0.0.2:8080"
	made := []*peerClient{m.router.snapshot().clients[peer].(*peerClient)}
	send(11, "10.0.0.1")                             // the peer leaves
	lateCallbacks := grace.expire(clientGracePeriod) // its grace period ends; the callback waits
	send(12, "10.0.0.1", "10.0.0.2")                 // the peer comes back
	made = append(made, m.router.snapshot().clients[peer].(*peerClient))
	send(13, "10.0.0.1") // and leaves again
	for _, f := range lateCallbacks {
		f()
	}
	grace.Advance(clientGracePeriod) // the second grace period ends
	m.Close()

	for i, c := range made {
		if state := c.conn.connState(); state != connectivity.Shutdown {
			t.Errorf("client %d of %s is %v after Close; want every client closed", i+1, peer, state)
		}
	}
	if n := len(closed); n != 1 {
		t.Errorf("%d clients closed at the end of a grace period, want 1", n)
	}
}

// waitConnected waits until every peer of m has answered a call, which leaves its
// connection open: a call of a method that no server knows, which grpc answers with
// Unimplemented without running any handler or interceptor.
func waitConnected(t *testing.T, m *PeersManager) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	clients := m.router.snapshot().clients
	for id, c := range clients {
		p := c.(*peerClient)
		var out groupcachepb.GetResponse
		err := p.channel.invoke(ctx, p.conn, "/"+grpcServiceName+"/NoSuchMethod", getRequest("g", "k"), &out)
		if status.Code(err) != codes.Unimplemented {
			t.Fatalf("peer %s did not answer: %v", id, err)
		}
	}
}

// keyOwnedBy finds a key that id owns in the ring of s.
func keyOwnedBy(t *testing.T, s *snapshot, id string) string {
	t.Helper()
	return keyOwnedByPrefix(t, s, id, "k")
}

// TestPickPeerDuringSwaps: PickPeer from many goroutines while the ring changes never
// returns (nil, true), and is race-free.
func TestPickPeerDuringSwaps(t *testing.T) {
	m, _ := startManager(t, fakeapi.Listing(10, readySlice("cache-x1", "10.0.0.1")), "10.0.0.1:8080")
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var bad sync.Once
	var badKey string
	for g := range 4 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				key := strconv.Itoa(g) + "/" + strconv.Itoa(i)
				if p, ok := m.PickPeer(key); ok && p == nil {
					bad.Do(func() { badKey = key })
				}
			}
		})
	}
	states := [][]string{{"10.0.0.1"}, {"10.0.0.1", "10.0.0.2", "10.0.0.3"}, {"10.0.0.2", "10.0.0.4"}}
	for i := range 60 {
		m.watcher.update(compacted(t, map[string]*discoveryv1.EndpointSlice{"x": readySlice("x", states[i%3]...)}))
	}
	close(stop)
	wg.Wait()
	if badKey != "" {
		t.Fatalf("PickPeer(%q) returned (nil, true)", badKey)
	}
	if s := m.Stats(); s.RingRebuilds < 60 {
		t.Errorf("RingRebuilds = %d, want at least 60", s.RingRebuilds)
	}
}

// TestCloseAndCancel: Close stops the server and every connection, is idempotent,
// and leaves no goroutine; cancelling ctx does the same.
func TestCloseAndCancel(t *testing.T) {
	for _, how := range []string{"Close", "cancel"} {
		t.Run(how, func(t *testing.T) {
			leakcheck.Check(t)
			port := freePort(t)
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			self := "127.0.0.1:" + strconv.Itoa(port)
			// nil gRPC options are dropped, not handed to grpc (which would panic).
			m, api, err := newManager(ctx, t, fakeapi.Listing(10, readySlice("x", "127.0.0.1", "127.0.0.2")), self,
				WithDialOptions(nil), WithServerOptions(nil), noHandoff)
			if err != nil {
				t.Fatal(err)
			}
			api.WaitCaughtUp(t)
			before := m.router.snapshot()
			if conn, err := net.Dial("tcp", self); err != nil {
				t.Fatalf("the manager does not serve on %s: %v", self, err)
			} else {
				conn.Close()
			}
			if how == "cancel" {
				cancel()
				<-m.done
			}
			for range 2 {
				if err := m.Close(); err != nil {
					t.Errorf("Close = %v", err)
				}
			}
			if conn, err := net.Dial("tcp", self); err == nil {
				conn.Close()
				t.Errorf("still serving on %s after %s", self, how)
			}
			if s := m.router.snapshot(); len(s.clients) != 0 || len(m.router.retiring) != 0 {
				t.Errorf("clients left open: %v %v", s.clients, m.router.retiring)
			}
			if p, ok := m.PickPeer(keyOwnedBy(t, before, "127.0.0.2:"+strconv.Itoa(port))); ok || p != nil || len(m.Peers()) != 0 || m.Owner("k") != "" {
				t.Errorf("after %s PickPeer = (%v, %v), Peers = %v, Owner = %q; want every key local", how, p, ok, m.Peers(), m.Owner("k"))
			}
		})
	}
}

// TestPeersChangedCallbackMayCallTheManager: a WithPeersChanged callback may call the
// manager back, Close included, and the watch goes on. setView used to call it with
// the manager's mutex held, which these calls take: the watch deadlocked and Close
// then hung forever.
func TestPeersChangedCallbackMayCallTheManager(t *testing.T) {
	cases := map[string]func(m *PeersManager){
		"Groups": func(m *PeersManager) { m.Groups() },
		"NewGroup": func(m *PeersManager) {
			m.NewGroup(fmt.Sprintf("%s#%d", t.Name(), groupSeq.Add(1)), 0, prefixGetter(""))
		},
		"Stats, Peers": func(m *PeersManager) { m.Stats(); m.Peers(); m.Owner("k") },
		"operator page": func(m *PeersManager) {
			m.DebugHandler().ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
		},
		"Close":    func(m *PeersManager) { m.Close() },
		"Shutdown": func(m *PeersManager) { m.Shutdown(context.Background()) },
	}
	for name, call := range cases {
		t.Run(name, func(t *testing.T) {
			leakcheck.Check(t)
			live := make(chan string)
			var started atomic.Pointer[PeersManager]
			called := make(chan []string, 10)
			m, _, err := newManager(t.Context(), t, fakeapi.Listing(10, readySlice("cache-x1", "10.0.0.1")).WithLive(live),
				"10.0.0.1:8080", WithGRPCServer(grpc.NewServer()), WithoutPeerPickerRegistration(),
				WithHandoff(Handoff{Drain: 100 * time.Millisecond}), // Shutdown drains, briefly
				WithPeersChanged(func(peers []string) {
					if m := started.Load(); m != nil {
						call(m)
					}
					called <- peers
				}))
			if err != nil {
				t.Fatal(err)
			}
			<-called // the first LIST's
			started.Store(m)
			change := func(rv int, pods ...string) {
				t.Helper()
				select {
				case live <- fakeapi.EventFrame("MODIFIED", rv, readySlice("cache-x1", pods...)):
				case <-time.After(10 * time.Second):
					t.Fatal("the watch takes no event: it is stuck")
				}
			}
			change(11, "10.0.0.1", "10.0.0.2")
			select {
			case <-called:
			case <-time.After(10 * time.Second):
				t.Fatal("the callback did not return within 10 s")
			}
			if name != "Close" && name != "Shutdown" {
				change(12, "10.0.0.1") // the watch goes on
				if got := <-called; !slices.Equal(got, []string{"10.0.0.1:8080"}) {
					t.Errorf("after the second change the callback got %v", got)
				}
			}
			closed := make(chan struct{})
			go func() { m.Close(); close(closed) }()
			select {
			case <-closed:
			case <-time.After(10 * time.Second):
				t.Fatal("Close did not return within 10 s")
			}
		})
	}
}

// TestFailedStartReturnsWhileItsCallbackWaits: when NewPeersManager fails after the
// first LIST (here its port is taken), it returns the error even while the
// WithPeersChanged function it told of that LIST waits for its caller, and the function
// is not called again. (Waiting for that call, as a first fix did, hung for ever.)
func TestFailedStartReturnsWhileItsCallbackWaits(t *testing.T) {
	before := leakcheck.Stacks()
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	self := taken.Addr().String()
	var calls atomic.Int64
	told := make(chan []string) // read only once NewPeersManager has returned
	result := make(chan error, 1)
	go func() {
		_, _, err := newManager(t.Context(), t, fakeapi.Listing(10, readySlice("x", "127.0.0.1")), self,
			WithPeersChanged(func(peers []string) {
				calls.Add(1)
				told <- peers
			}))
		result <- err
	}()
	select {
	case err := <-result:
		if err == nil || !strings.Contains(err.Error(), "address already in use") {
			t.Fatalf("NewPeersManager: %v, want a failure to listen", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("NewPeersManager did not return while its callback waited for its caller")
	}
	select { // the callback told of the first LIST, if it started, may now return
	case <-told:
	default:
	}
	waitUntil(t, "the callback's goroutine to end", func() bool {
		for _, stack := range leakcheck.Since(before, 0) {
			if strings.Contains(stack, "peersNotifier") {
				return false
			}
		}
		return true
	})
	if n := calls.Load(); n > 1 {
		t.Errorf("the callback was called %d times, want at most the first LIST's", n)
	}
}
