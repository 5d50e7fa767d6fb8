package k8s

// Tests of the loop guard: both sides in one process, and cycles between two processes
// whose rings disagree.

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang/groupcache"
	"github.com/golang/groupcache/groupcachepb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

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
				t.Errorf("Get took %v; a forwarding loop waits for the %v call timeout", elapsed, defaultCallTimeout)
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
	svc := newGetService(&counters{}, &loopGuard{}, cfg)
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
	channel, err := newPeerChannel(dialOpts)
	if err != nil {
		return err
	}
	defer channel.Close()
	peer := newPeerClient(strings.TrimSpace(line), channel, cfg, svc.stats, svc.guard)
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
