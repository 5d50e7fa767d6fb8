package k8s

// Tests of liveness: a peer that stops answering is marked unavailable within about a
// second and its calls fail at once; it is used again as soon as it answers; a peer that
// is only slow to load is never marked.

import (
	"context"
	"fmt"
	"net"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang/groupcache"
	"github.com/golang/groupcache/groupcachepb"
	"github.com/groupcache-k8s/k8s/internal/leakcheck"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/status"
)

// netProxy is a TCP proxy in front of a peer's server that can make the peer stop
// answering, as a frozen process or a partitioned node does to its peers (connections
// stay open, new ones are accepted by the kernel, nothing comes back, pings included), or
// pass its answers back slowly, as a busy network does.
type netProxy struct {
	lis    net.Listener
	target string
	wg     sync.WaitGroup

	mu     sync.Mutex
	thawed chan struct{}     // closed while bytes pass
	slow   bool              // answers pass 16 KiB every 20 ms
	holed  map[net.Conn]bool // connections whose bytes are dropped
	conns  []net.Conn
}

// startProxy starts a proxy to target and returns it; its address is addr().
func startProxy(t *testing.T, target string) *netProxy {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &netProxy{lis: lis, target: target, thawed: make(chan struct{})}
	close(p.thawed)
	t.Cleanup(p.close)
	p.serve(lis)
	return p
}

// serve accepts connections on lis and passes them to the target.
func (p *netProxy) serve(lis net.Listener) {
	p.wg.Go(func() {
		for {
			in, err := lis.Accept()
			if err != nil {
				return
			}
			out, err := net.Dial("tcp", p.target)
			if err != nil {
				in.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, in, out)
			p.mu.Unlock()
			p.wg.Go(func() { p.pass(out, in, false) })
			p.wg.Go(func() { p.pass(in, out, true) })
		}
	})
}

// restart closes every connection and refuses new ones for down, as a peer's container
// killed and started again in place (same address) does, and thaws the proxy.
func (p *netProxy) restart(t *testing.T, down time.Duration) {
	addr := p.addr()
	p.close()
	time.Sleep(down) // the restart under test: connections are refused meanwhile
	p.reopen(t, addr)
}

// reopen listens at addr again, after close, and thaws the proxy.
func (p *netProxy) reopen(t *testing.T, addr string) {
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	p.mu.Lock()
	p.lis, p.conns, p.thawed = lis, nil, make(chan struct{})
	close(p.thawed)
	p.mu.Unlock()
	p.serve(lis)
}

func (p *netProxy) addr() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.lis.Addr().String()
}

// pass copies from to dst while the proxy is thawed; answers is the server's direction.
func (p *netProxy) pass(dst, from net.Conn, answers bool) {
	buf := make([]byte, 16<<10)
	for {
		n, err := from.Read(buf)
		p.mu.Lock()
		thawed, slow, holed := p.thawed, p.slow && answers, p.holed[from]
		p.mu.Unlock()
		<-thawed // closed by thaw, and by close
		if n > 0 && !holed {
			if _, err := dst.Write(buf[:n]); err != nil {
				return
			}
		}
		if err != nil {
			dst.Close()
			return
		}
		if slow {
			time.Sleep(20 * time.Millisecond) // the slow network under test
		}
	}
}

// blackhole drops the bytes of the connections open now, both ways, as a dropped
// conntrack entry or a wedged middlebox does; connections opened later pass.
func (p *netProxy) blackhole() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.holed = make(map[net.Conn]bool)
	for _, c := range p.conns {
		p.holed[c] = true
	}
}

func (p *netProxy) freeze() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.thawed = make(chan struct{})
}

func (p *netProxy) thaw() {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.thawed:
	default:
		close(p.thawed)
	}
}

func (p *netProxy) slowDown() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.slow = true
}

// close thaws the proxy, closes its listener and connections, and waits for its goroutines.
func (p *netProxy) close() {
	p.thaw()
	p.mu.Lock()
	p.lis.Close()
	for _, c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}

// livePeer is a router of self "s:1" whose one other member is a server behind a proxy,
// and a group that server answers from.
type livePeer struct {
	router *router
	stats  *counters
	proxy  *netProxy
	peer   string
	client peerGetter // the peer's client
	group  *groupcache.Group
	key    string // a key the peer owns
}

func startLivePeer(t *testing.T, getter groupcache.GetterFunc, serverOpts ...Option) livePeer {
	t.Helper()
	leakcheck.Check(t)
	server := startTestServer(t, "", serverOpts...)
	proxy := startProxy(t, server.addr())
	cfg := testConfig()
	stats := &counters{}
	r := newRouter("s:1", cfg, stats, &loopGuard{}, newTestChannel(t, cfg))
	t.Cleanup(func() { r.stop(); r.closeClients() })
	peer := proxy.addr()
	r.apply(view{members: []string{peer, "s:1"}, selfReady: true})
	return livePeer{router: r, stats: stats, proxy: proxy, peer: peer, client: r.snapshot().clients[peer],
		group: newTestGroup(t, getter), key: keyOwnedBy(t, r.snapshot(), peer)}
}

// get asks the peer for key as groupcache would, and returns the error and how long it took.
func (l livePeer) get(key string) (time.Duration, error) {
	return l.getWithin(context.Background(), key)
}

// getWithin is get with the caller's ctx.
func (l livePeer) getWithin(ctx context.Context, key string) (time.Duration, error) {
	start := time.Now()
	var out groupcachepb.GetResponse
	err := l.client.Get(ctx, getRequest(l.group.Name(), key), &out)
	return time.Since(start), err
}

// TestFrozenPeerFailsFast: calls outstanding to a peer that stops answering fail within
// about a second, not after the 5 s call timeout; later calls fail at once; the peer is
// counted as marked once, and used again soon after it answers.
func TestFrozenPeerFailsFast(t *testing.T) {
	l := startLivePeer(t, echoGetter)
	f := l.proxy
	if _, err := l.get(l.key); err != nil {
		t.Fatalf("Get before the freeze: %v", err)
	}

	f.freeze()
	const outstanding = 3
	errs := make(chan error, outstanding)
	took := make(chan time.Duration, outstanding)
	for range outstanding {
		go func() {
			d, err := l.get(l.key)
			took <- d
			errs <- err
		}()
	}
	for range outstanding {
		if d, err := <-took, <-errs; status.Code(err) != codes.Unavailable || d > 2*time.Second {
			t.Errorf("a Get outstanding at the freeze: %v after %v; want codes.Unavailable within 2 s", err, d)
		}
	}
	if d, err := l.get(l.key); status.Code(err) != codes.Unavailable || d > pingTimeout/2 {
		t.Errorf("a Get to the frozen peer: %v after %v; want codes.Unavailable at once", err, d)
	}
	if got := l.stats.peersMarkedUnavailable.Load(); got != 1 {
		t.Errorf("peers marked unavailable: %d, want 1", got)
	}
	if got := l.stats.callsFailedFast.Load(); got != outstanding+1 {
		t.Errorf("calls failed fast: %d, want %d", got, outstanding+1)
	}

	f.thaw()
	thawed := time.Now()
	waitUntil(t, "the peer answers again", func() bool { _, err := l.get(l.key); return err == nil })
	if d := time.Since(thawed); d > time.Second {
		t.Errorf("the peer was used again %v after it answered; want within 1 s", d)
	}
	if got := l.stats.peersMarkedUnavailable.Load(); got != 1 {
		t.Errorf("peers marked unavailable: %d, want 1", got)
	}
}

// TestSlowPeerIsNotMarkedUnavailable: a peer whose backend takes longer than the whole
// check (suspectAfter and pingTimeout) still answers pings; its callers wait for its
// values, and its backend is asked once for each key.
func TestSlowPeerIsNotMarkedUnavailable(t *testing.T) {
	const slow = 3 * (suspectAfter + pingTimeout)
	var mu sync.Mutex
	loads := map[string]int{}
	l := startLivePeer(t, func(ctx context.Context, key string, dest groupcache.Sink) error {
		mu.Lock()
		loads[key]++
		mu.Unlock()
		select { // the slow backend under test, not a synchronisation
		case <-time.After(slow):
		case <-ctx.Done():
			return ctx.Err()
		}
		return dest.SetString("slow " + key)
	})
	keys := []string{l.key, l.key + "-2"}
	var wg sync.WaitGroup
	for _, key := range keys {
		wg.Go(func() {
			if d, err := l.get(key); err != nil || d < slow {
				t.Errorf("Get(%q) from the slow peer: %v after %v; want its value after %v", key, err, d, slow)
			}
		})
	}
	wg.Wait()
	if got := l.stats.peersMarkedUnavailable.Load(); got != 0 {
		t.Errorf("the slow peer was marked unavailable %d times", got)
	}
	for _, key := range keys {
		if loads[key] != 1 {
			t.Errorf("key %q loaded %d times by the peer's backend, want 1", key, loads[key])
		}
	}
}

// TestBusyPeerIsNotMarkedUnavailable: a peer whose large answers come slowly, so that no
// call finishes for seconds and a ping's answer waits behind them, is sending bytes all
// along: it is not marked, and its callers get their values. It used to be marked within
// a second (in the remote benchmark, 64 callers of 4 MiB values on a loaded machine), which
// failed the calls and loaded the keys again.
func TestBusyPeerIsNotMarkedUnavailable(t *testing.T) {
	const size = 1 << 20 // two of them take about 2.6 s through the slow proxy
	l := startLivePeer(t, func(_ context.Context, key string, dest groupcache.Sink) error {
		return dest.SetBytes(make([]byte, size))
	})
	l.proxy.slowDown()
	var wg sync.WaitGroup
	for i := range 2 {
		wg.Go(func() {
			var out groupcachepb.GetResponse
			if err := l.client.Get(t.Context(), getRequest(l.group.Name(), fmt.Sprint("k", i)), &out); err != nil || len(out.Value) != size {
				t.Errorf("Get of a large value from the busy peer: %d bytes, %v", len(out.Value), err)
			}
		})
	}
	wg.Wait()
	if got := l.stats.peersMarkedUnavailable.Load(); got != 0 {
		t.Errorf("the busy peer was marked unavailable %d times", got)
	}
}

// TestMarkedPeerCancelsOutstandingCalls: marking a peer cancels the calls outstanding,
// and a call that begins after the mark is refused, even if it read the mark before it
// was set; ending the calls frees their slots for the next ones.
func TestMarkedPeerCancelsOutstandingCalls(t *testing.T) {
	var h peerHealth
	ctxs := make([]context.Context, 3)
	slots := make([]int, 3)
	for i := range ctxs {
		var cancel context.CancelFunc
		ctxs[i], cancel = context.WithCancel(context.Background())
		defer cancel()
		var ok bool
		if slots[i], _, ok = h.begin(cancel); !ok {
			t.Fatalf("call %d refused before the mark", i)
		}
	}
	h.end(slots[1], true) // finished before the mark: not cancelled
	if !h.markUnavailable() || h.markUnavailable() {
		t.Error("markUnavailable: want true the first time only")
	}
	assertCount(t, "marks", h.marks.Load(), 1)
	for i, ctx := range ctxs {
		if cancelled := ctx.Err() != nil; cancelled != (i != 1) {
			t.Errorf("call %d cancelled = %v", i, cancelled)
		}
	}
	if slot, _, ok := h.begin(func() {}); ok {
		t.Error("a call that began after the mark was not refused")
	} else if slot != slots[1] {
		t.Errorf("the new call took slot %d, want the freed slot %d", slot, slots[1])
	}
}

// TestSuspect: when the liveness goroutine pings a peer, step by step.
func TestSuspect(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	type step struct {
		at          time.Time
		begin, end  int   // calls begun and ended, answered, before the look
		gaveUp      int   // calls that ended unanswered (their caller's deadline) before the look
		read        int64 // bytes read from the peer before the look
		unavailable bool
		want        bool
		quiet       bool // the look finds that the peer needs no next look
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"no call outstanding", []step{{at: at(0), quiet: true}, {at: at(time.Second), quiet: true}}},
		{"one call outstanding for suspectAfter", []step{
			{at: at(0), begin: 1}, {at: at(suspectAfter - time.Millisecond)}, {at: at(suspectAfter), want: true}}},
		{"calls finishing meanwhile count afresh", []step{
			{at: at(0), begin: 2}, {at: at(suspectAfter), end: 1}, {at: at(2*suspectAfter - time.Millisecond)},
			{at: at(2 * suspectAfter), want: true}}},
		{"calls finished", []step{{at: at(0), begin: 1}, {at: at(suspectAfter), end: 1, quiet: true}, {at: at(time.Second), quiet: true}}},
		{"calls asked now and then, each ended unanswered", []step{
			{at: at(0), begin: 1}, {at: at(livenessTick), gaveUp: 1}, {at: at(2 * livenessTick), quiet: true},
			{at: at(suspectAfter - time.Millisecond), begin: 1}, {at: at(suspectAfter), want: true}}},
		{"an answer after calls ended unanswered counts afresh", []step{
			{at: at(0), begin: 1}, {at: at(livenessTick), gaveUp: 1}, {at: at(2 * livenessTick), begin: 1, end: 1, quiet: true},
			{at: at(suspectAfter), begin: 1}, {at: at(2*livenessTick + suspectAfter), want: false}, {at: at(suspectAfter + suspectAfter), want: true}}},
		{"calls ended unanswered show nothing", []step{
			{at: at(0), begin: 3}, {at: at(suspectAfter / 2), gaveUp: 1}, {at: at(suspectAfter - time.Millisecond), gaveUp: 1},
			{at: at(suspectAfter), want: true}}},
		{"bytes coming in count afresh", []step{
			{at: at(0), begin: 1}, {at: at(suspectAfter), read: 100}, {at: at(2*suspectAfter - time.Millisecond)},
			{at: at(2 * suspectAfter), want: true}}},
		{"a peer already marked", []step{{at: at(0), begin: 1}, {at: at(time.Second), unavailable: true}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var h peerHealth
			var open []int
			var read int64
			for i, st := range tt.steps {
				read += st.read
				for range st.begin {
					slot, _, _ := h.begin(func() {})
					open = append(open, slot)
				}
				for range st.end {
					h.end(open[0], true)
					open = open[1:]
				}
				for range st.gaveUp {
					h.end(open[0], false)
					open = open[1:]
				}
				h.unavailable.Store(st.unavailable)
				if got, busy := h.suspect(st.at, read); got != st.want || busy == st.quiet {
					t.Errorf("step %d: suspect = %v, needs the next look %v; want %v, %v", i, got, busy, st.want, !st.quiet)
				}
			}
		})
	}
}

// TestLivenessSleepsUntilACallBegins: once no call waits for any peer, the liveness goroutine
// stops looking (an idle pod of a large fleet looked at every peer ten times a second); a
// call that begins wakes it, and it looks every tick again while the call waits.
func TestLivenessSleepsUntilACallBegins(t *testing.T) {
	cfg := testConfig()
	p := newPeerClient("a:1", newTestChannel(t, cfg), cfg, &counters{}, &loopGuard{})
	t.Cleanup(func() { p.Close() })
	wake := newLivenessWake()
	p.health.wake = wake
	// The goroutine says it is idle before its last look: looks counts the looks, and
	// lastLook gets the count at the first look made once it said so, the one after which
	// it sleeps. Waiting for the flag alone read the count before that look, on a loaded
	// machine.
	var looks atomic.Int64
	lastLook := make(chan int64, 1)
	clients := func() []peerGetter {
		n := looks.Add(1)
		if wake.idle.Load() {
			select {
			case lastLook <- n:
			default:
			}
		}
		return []peerGetter{p}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		watchLiveness(ctx, clients, wake)
	}()
	defer func() { cancel(); <-done }()

	var asleep int64
	select {
	case asleep = <-lastLook:
	case <-time.After(10 * time.Second):
		t.Fatal("the goroutine did not go to sleep within 10 s")
	}
	time.Sleep(5 * livenessTick) // a window in which ticks would have looked
	if got := looks.Load(); got != asleep {
		t.Errorf("while no call waited: %d looks in 5 ticks; want none", got-asleep)
	}
	slot, _, _ := p.health.begin(func() {})
	waitUntil(t, "the call wakes it", func() bool { return looks.Load() >= asleep+3 })
	if wake.idle.Load() {
		t.Error("the goroutine is marked asleep while a call waits")
	}
	p.health.end(slot, true)
	waitUntil(t, "the goroutine sleeps again", wake.idle.Load)
}

// TestAlive: which outcomes of a ping show the peer answered.
func TestAlive(t *testing.T) {
	tests := []struct {
		err  error
		want bool
	}{
		{nil, true},
		{status.Error(codes.Unimplemented, "an older peer"), true},
		{status.Error(codes.Canceled, "closing"), true},
		{status.Error(codes.PermissionDenied, "an interceptor"), true},
		{status.Error(codes.DeadlineExceeded, "no answer"), false},
		{status.Error(codes.Unavailable, "connection refused"), false},
	}
	for _, tt := range tests {
		if got := alive(tt.err); got != tt.want {
			t.Errorf("alive(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
}

// TestPingOfAClosingClient: the liveness goroutine may look at a snapshot whose client the
// router is closing. Starting its ping then must neither race with Close's wait for the
// client's pings nor start one after it.
func TestPingOfAClosingClient(t *testing.T) {
	leakcheck.Check(t)
	cfg := testConfig()
	channel := newTestChannel(t, cfg)
	for range 200 {
		p := newPeerClient("127.0.0.1:1", channel, cfg, &counters{}, &loopGuard{})
		closed := make(chan struct{})
		go func() {
			defer close(closed)
			p.Close()
		}()
		p.checkSuspect()
		<-closed
		p.running.Wait()
	}
}

// TestSlowPeerBehindLimitsIsNotMarked: a peer at its limits (its server's limit of
// concurrent streams, and an interceptor that serves one call at a time) whose backend is
// slow keeps a second call waiting with no byte coming in; its pings pass neither limit,
// so it is not marked, and both callers get their values from it.
func TestSlowPeerBehindLimitsIsNotMarked(t *testing.T) {
	const slow = 2 * (suspectAfter + pingTimeout)
	one := make(chan struct{}, 1)
	limiter := grpc.UnaryInterceptor(func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		select {
		case one <- struct{}{}:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		defer func() { <-one }()
		return handler(ctx, req)
	})
	var loads sync.Map
	l := startLivePeer(t, func(ctx context.Context, key string, dest groupcache.Sink) error {
		n, _ := loads.LoadOrStore(key, new(atomic.Int64))
		n.(*atomic.Int64).Add(1)
		select { // the slow backend under test, not a synchronisation
		case <-time.After(slow):
		case <-ctx.Done():
			return ctx.Err()
		}
		return dest.SetString("slow " + key)
	}, WithServerOptions(grpc.MaxConcurrentStreams(1), limiter))
	keys := []string{l.key, l.key + "-2"}
	var wg sync.WaitGroup
	for _, key := range keys {
		wg.Go(func() {
			if d, err := l.get(key); err != nil || d < slow {
				t.Errorf("Get(%q) from the slow peer at its limits: %v after %v; want its value after %v", key, err, d, slow)
			}
		})
	}
	wg.Wait()
	assertCount(t, "peers marked unavailable", l.stats.peersMarkedUnavailable.Load(), 0)
	for _, key := range keys {
		n, _ := loads.Load(key)
		if n == nil || n.(*atomic.Int64).Load() != 1 {
			t.Errorf("key %q not loaded exactly once by the peer's backend", key)
		}
	}
}

// TestFrozenPeerOfShortDeadlinesIsMarked: callers whose deadlines are shorter than the
// check (an HTTP handler's 100 ms) keep calls outstanding to a frozen peer, each ending
// by its own deadline; those endings are not answers, so the peer is still marked, and
// later calls fail at once instead of each costing its caller's whole deadline.
func TestFrozenPeerOfShortDeadlinesIsMarked(t *testing.T) {
	l := startLivePeer(t, echoGetter)
	if _, err := l.get(l.key); err != nil {
		t.Fatalf("Get before the freeze: %v", err)
	}
	l.proxy.freeze()
	const deadline = 100 * time.Millisecond
	marked := time.Now().Add(5 * time.Second)
	for l.stats.peersMarkedUnavailable.Load() == 0 {
		if time.Now().After(marked) {
			t.Fatal("the frozen peer of short-deadline callers was not marked within 5 s")
		}
		ctx, cancel := context.WithTimeout(context.Background(), deadline)
		_, err := l.getWithin(ctx, l.key)
		cancel()
		if err == nil {
			t.Fatal("a Get from the frozen peer succeeded")
		}
	}
	if d, err := l.get(l.key); status.Code(err) != codes.Unavailable || d > deadline/2 {
		t.Errorf("a Get to the marked peer: %v after %v; want codes.Unavailable at once", err, d)
	}
}

// TestFrozenPeerOfSparseShortDeadlinesIsMarked: callers with short deadlines asking a
// frozen peer now and then, with gaps between their calls (one of 100 ms every 250 ms),
// still get it marked: the gaps used to restart the count, and every caller waited out
// its whole deadline.
func TestFrozenPeerOfSparseShortDeadlinesIsMarked(t *testing.T) {
	l := startLivePeer(t, echoGetter)
	if _, err := l.get(l.key); err != nil {
		t.Fatalf("Get before the freeze: %v", err)
	}
	l.proxy.freeze()
	const deadline = 100 * time.Millisecond
	ticker := time.NewTicker(250 * time.Millisecond) // the callers' pace under test
	defer ticker.Stop()
	for end := time.Now().Add(4 * time.Second); l.stats.peersMarkedUnavailable.Load() == 0; <-ticker.C {
		if time.Now().After(end) {
			t.Fatal("the frozen peer of sparse short-deadline callers was not marked within 4 s")
		}
		ctx, cancel := context.WithTimeout(context.Background(), deadline)
		l.getWithin(ctx, l.key)
		cancel()
	}
}

// TestRestartedPeerIsUsedAgainSoon: a peer that froze (marked) and whose container was
// then restarted in place (the same address; its connections reset, new ones refused
// for a while) is used again within about a second of answering. Its re-check pings
// failed at once while grpc kept the connection in its reconnect backoff (1 s growing to
// 2 minutes), so the peer stayed marked for seconds after it was back.
func TestRestartedPeerIsUsedAgainSoon(t *testing.T) {
	l := startLivePeer(t, echoGetter)
	if _, err := l.get(l.key); err != nil {
		t.Fatalf("Get before the freeze: %v", err)
	}
	l.proxy.freeze()
	if _, err := l.get(l.key); status.Code(err) != codes.Unavailable {
		t.Fatalf("Get from the frozen peer: %v, want codes.Unavailable", err)
	}
	l.proxy.restart(t, 12500*time.Millisecond) // long enough for a backoff of seconds
	back := time.Now()
	waitUntil(t, "the restarted peer is used again", func() bool { _, err := l.get(l.key); return err == nil })
	if d := time.Since(back); d > 1500*time.Millisecond {
		t.Errorf("the restarted peer was used again %v after it answered; want within about a second", d)
	}
}

// TestBlackholedConnectionIsReplaced: the calls' connection to a live peer stops passing
// bytes (a dropped conntrack entry) while new connections work. Pings, on a connection of
// their own, are answered, so the peer is not marked; HTTP/2 keepalive on the calls'
// connection (a ping after 10 s without a byte while calls wait, 2 s for its answer)
// drops it, and calls go on a new one. Without it every call waited out its timeout for
// as long as the kernel kept the dead connection, about 15 minutes.
func TestBlackholedConnectionIsReplaced(t *testing.T) {
	l := startLivePeer(t, echoGetter)
	if _, err := l.get(l.key); err != nil {
		t.Fatalf("Get before: %v", err)
	}
	l.proxy.blackhole()
	start := time.Now()
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, err := l.getWithin(ctx, l.key)
		cancel()
		if err == nil {
			break
		}
		if time.Since(start) > 20*time.Second {
			t.Fatalf("calls still fail %v after the connection was black-holed: %v", time.Since(start), err)
		}
	}
	t.Logf("calls went through again %v after the connection was black-holed", time.Since(start))
	assertCount(t, "peers marked unavailable", l.stats.peersMarkedUnavailable.Load(), 0)
}

// TestFrozenRetiringPeerFailsFast: a peer that left the ring keeps its client for a grace
// period, with calls still outstanding on it; when it freezes, those calls fail within
// about a second too.
func TestFrozenRetiringPeerFailsFast(t *testing.T) {
	l := startLivePeer(t, echoGetter)
	if _, err := l.get(l.key); err != nil {
		t.Fatalf("Get before the freeze: %v", err)
	}
	l.proxy.freeze()
	done := make(chan error, 1)
	var took time.Duration
	go func() {
		var err error
		took, err = l.get(l.key)
		done <- err
	}()
	l.router.apply(view{members: []string{"s:1"}, selfReady: true}) // the peer leaves
	if _, ok := l.router.snapshot().clients[l.peer]; ok {
		t.Fatal("the peer that left still has a client in the snapshot")
	}
	if err := <-done; status.Code(err) != codes.Unavailable || took > 2*time.Second {
		t.Errorf("a Get outstanding on the retiring frozen peer: %v after %v; want codes.Unavailable within 2 s", err, took)
	}
	assertCount(t, "peers marked unavailable", l.stats.peersMarkedUnavailable.Load(), 1)
}

// TestFrozenPeerThenClose: closing the router while a frozen peer is being re-checked
// (each ping waiting up to recheckTimeout) ends at once and leaves no goroutine behind.
func TestFrozenPeerThenClose(t *testing.T) {
	l := startLivePeer(t, echoGetter)
	l.proxy.freeze()
	if _, err := l.get(l.key); status.Code(err) != codes.Unavailable {
		t.Fatalf("Get from the frozen peer: %v, want codes.Unavailable", err)
	}
	start := time.Now()
	l.router.stop()
	l.router.closeClients()
	if d := time.Since(start); d > recheckTimeout/2 {
		t.Errorf("closing the router took %v while a frozen peer was re-checked", d)
	}
}

// TestStarvedCallerDoesNotMark: a ping unanswered while this process could not run (a
// goroutine waited longer than lagLimit for a CPU) does not mark the peer.
func TestStarvedCallerDoesNotMark(t *testing.T) {
	l := startLivePeer(t, echoGetter)
	var late atomic.Uint64
	l.client.(*peerClient).lateRuns = func() uint64 { return late.Add(1) } // starved throughout
	l.proxy.freeze()
	ctx, cancel := context.WithTimeout(context.Background(), 3*(suspectAfter+pingTimeout))
	defer cancel()
	if _, err := l.getWithin(ctx, l.key); status.Code(err) != codes.DeadlineExceeded {
		t.Errorf("Get from the frozen peer of a starved caller: %v, want its own deadline", err)
	}
	if late.Load() < 2 {
		t.Errorf("the peer was not pinged (lateRuns read %d times)", late.Load())
	}
	assertCount(t, "peers marked unavailable", l.stats.peersMarkedUnavailable.Load(), 0)
}

// TestLateRuns: lateRuns counts goroutines that waited longer than lagLimit to run, as
// they do when many busy goroutines share one CPU.
func TestLateRuns(t *testing.T) {
	before := lateRuns()
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	var stop atomic.Bool
	var wg sync.WaitGroup
	for range 40 { // 40 goroutines preempted every 10 ms: each waits about 400 ms to run
		wg.Go(func() {
			for !stop.Load() { // spins on purpose: the CPU stays busy
			}
		})
	}
	deadline := time.Now().Add(10 * time.Second)
	for lateRuns() == before && time.Now().Before(deadline) {
		runtime.Gosched()
	}
	stop.Store(true)
	wg.Wait()
	if lateRuns() == before {
		t.Error("no late run counted while 40 busy goroutines shared one CPU")
	}
}

// TestKeysOfAnExitedPeerGoToTheirNextOwner: a peer that refuses connections (its pod has
// exited while its endpoint is still ready: at 150 pods the EndpointSlice controller
// showed exited pods ready for 10–40 s) is marked at the first refusal, and its keys go to
// their owner in the ring without it, where it pushed its entries as it left, until it
// answers again. Before, every pod asked for such a key loaded it again, each for itself.
func TestKeysOfAnExitedPeerGoToTheirNextOwner(t *testing.T) {
	leakcheck.Check(t)
	exited := startProxy(t, startTestServer(t, "").addr())
	next := startProxy(t, startTestServer(t, "").addr())
	cfg := testConfig(quietLogs)
	stats := &counters{}
	r := newRouter("s:1", cfg, stats, &loopGuard{}, newTestChannel(t, cfg))
	t.Cleanup(func() { r.stop(); r.closeClients() })
	r.apply(view{members: []string{exited.addr(), next.addr(), "s:1"}, selfReady: true})
	s := r.snapshot()
	without := ringWithout(s.ring.members(), exited.addr())
	var toNext, toSelf string // keys of the exited peer whose next owner is next, and self
	for i := 0; i < 10000 && (toNext == "" || toSelf == ""); i++ {
		key := "k" + strconv.Itoa(i)
		if !ownedBy(s.ring, key, exited.addr()) {
			continue
		}
		switch {
		case ownedBy(without, key, next.addr()) && toNext == "":
			toNext = key
		case ownedBy(without, key, "s:1") && toSelf == "":
			toSelf = key
		}
	}
	group := newTestGroup(t, echoGetter)
	addr := exited.addr()
	exited.close()

	var out groupcachepb.GetResponse
	if err := s.clients[addr].Get(t.Context(), getRequest(group.Name(), toSelf), &out); status.Code(err) != codes.Unavailable {
		t.Fatalf("Get from the exited peer of a key this pod owns next: %v, want codes.Unavailable", err)
	}
	tests := []struct {
		key  string
		want peerGetter // nil: this pod
	}{
		{key: toNext, want: s.clients[next.addr()]},
		{key: toSelf, want: nil},
	}
	name := func(g groupcache.ProtoGetter) string {
		if pc, ok := g.(*peerClient); ok {
			return pc.addr
		}
		return "this pod"
	}
	for _, tt := range tests {
		g, ok := s.pick(tt.key)
		if tt.want == nil && (ok || g != nil) || tt.want != nil && (!ok || g != tt.want) {
			t.Errorf("pick(%q) of the exited peer: %s, %v; want %s", tt.key, name(g), ok, name(tt.want))
		}
	}
	if got := stats.peersMarkedUnavailable.Load(); got != 1 {
		t.Errorf("peers marked unavailable: %d, want 1", got)
	}

	exited.reopen(t, addr)
	waitUntil(t, "the peer is used again once it answers", func() bool {
		g, ok := s.pick(toNext)
		return ok && g == s.clients[addr]
	})
}

// TestGetRefusedByItsOwnerGoesToTheNextOwner: a Get to a peer that refuses the
// connection (it exited; its endpoint may stay ready for many seconds at scale) goes on to
// the key's next owner, where the exited pod pushed its entries, instead of failing into a
// load at every pod whose first call found the owner gone. It fails, for groupcache to
// load the key here, when this pod is the next owner, and after maxPassOns such hops.
func TestGetRefusedByItsOwnerGoesToTheNextOwner(t *testing.T) {
	leakcheck.Check(t)
	n := maxPassOns + 2 // enough peers for a run of exited owners one longer than the hops
	servers := make([]*testServer, n)
	proxies := make([]*netProxy, n)
	ids := []string{"s:1"}
	for i := range proxies {
		servers[i] = startTestServer(t, "")
		proxies[i] = startProxy(t, servers[i].addr())
		ids = append(ids, proxies[i].addr())
	}
	cfg := testConfig(quietLogs)
	stats := &counters{}
	r := newRouter("s:1", cfg, stats, &loopGuard{}, newTestChannel(t, cfg))
	t.Cleanup(func() { r.stop(); r.closeClients() })
	r.apply(view{members: ids, selfReady: true})
	s := r.snapshot()
	p := func(i int) string { return proxies[i].addr() }
	rings := map[string]*ring{} // without the members named, sorted, each followed by a NUL
	without := func(gone []string) *ring {
		name := strings.Join(slices.Sorted(slices.Values(gone)), "\x00")
		if rings[name] == nil {
			rings[name] = ringWithout(s.ring.members(), gone...)
		}
		return rings[name]
	}
	// find returns a key whose owners, each past the ones before, are the peers of the
	// first k proxies in some order and then, if self, this pod, or else another peer,
	// and the index of that peer's proxy.
	find := func(k int, self bool) (string, int) {
		closed := make([]string, k)
		for i := range closed {
			closed[i] = p(i)
		}
		for i := range 1000000 {
			key := "k" + strconv.Itoa(i)
			var gone []string
			next := ""
			for {
				rg := without(gone)
				next = rg.members()[rg.owner(key)]
				if !slices.Contains(closed, next) {
					break
				}
				gone = append(gone, next)
			}
			if len(gone) == k && (next == "s:1") == self {
				return key, slices.Index(ids, next) - 1
			}
		}
		t.Fatalf("no key owned in turn by %d closed peers, then self %v", k, self)
		return "", 0
	}
	group := newTestGroup(t, echoGetter)
	tests := []struct {
		name     string
		exited   int  // owners in a row that refuse connections (the peers of proxies 0 to exited-1)
		nextSelf bool // the owner past them is this pod
		want     codes.Code
		hops     int64 // Gets passed on
	}{
		{"the next owner answers", 1, false, codes.OK, 1},
		{"this pod is the next owner: loaded here", 1, true, codes.Unavailable, 0},
		{"the next owner exited too: the one after it answers", 2, false, codes.OK, 2},
		{"as many exited in a row as hops: the one after them answers", maxPassOns, false, codes.OK, maxPassOns},
		{"one more exited than hops: loaded here", maxPassOns + 1, false, codes.Unavailable, maxPassOns},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key, next := find(tt.exited, tt.nextSelf)
			for i := range tt.exited {
				addr := p(i)
				c := s.clients[addr].(*peerClient)
				proxies[i].close()
				waitUntil(t, "the client sees the peer's connection end", func() bool { return c.conn.connState() != connectivity.Ready })
				defer func() {
					proxies[i].reopen(t, addr)
					waitUntil(t, "the peer answers again", func() bool { return !c.health.unavailable.Load() })
				}()
			}
			served := -1
			if tt.want == codes.OK {
				served = next
			}
			before := make([]int64, len(servers))
			for i, srv := range servers {
				before[i] = srv.stats.serverRequests.Load()
			}
			passedOn := stats.callsPassedOn.Load()
			var out groupcachepb.GetResponse
			owner, _ := s.pick(key) // the first of the peers that refuse, none marked yet
			err := owner.Get(t.Context(), getRequest(group.Name(), key), &out)
			if status.Code(err) != tt.want {
				t.Fatalf("Get: %v, want %v", err, tt.want)
			}
			if err == nil && string(out.GetValue()) != valueOf(key) {
				t.Errorf("value %q, want %q", out.GetValue(), valueOf(key))
			}
			for i, srv := range servers {
				want := int64(0)
				if i == served {
					want = 1
				}
				if got := srv.stats.serverRequests.Load() - before[i]; got != want {
					t.Errorf("server %d answered %d requests, want %d", i, got, want)
				}
			}
			if got := stats.callsPassedOn.Load() - passedOn; got != tt.hops {
				t.Errorf("calls passed on: %d, want %d", got, tt.hops)
			}
		})
	}
}

// TestPassedOnGetStaysWithinTheCallTimeout: a Get whose key's owners in a row stop
// answering (a frozen node hosting several of the pods) is passed on past each one as it
// is marked, but the whole Get is bounded by one call timeout, as every peer call is: each
// hop does not start a call timeout of its own.
func TestPassedOnGetStaysWithinTheCallTimeout(t *testing.T) {
	leakcheck.Check(t)
	const callTimeout = 2 * time.Second
	var ids []string
	var proxies []*netProxy
	for range maxPassOns + 2 {
		srv := startTestServer(t, "")
		p := startProxy(t, srv.addr())
		proxies = append(proxies, p)
		ids = append(ids, p.addr())
	}
	cfg := testConfig(WithCallTimeout(callTimeout))
	r := newRouter("s:1", cfg, &counters{}, &loopGuard{}, newTestChannel(t, cfg))
	t.Cleanup(func() { r.stop(); r.closeClients() })
	r.apply(view{members: ids, selfReady: true}) // this pod is no member: every key has a peer for owner
	group := newTestGroup(t, echoGetter)
	owner, _ := r.snapshot().pick("k")
	var out groupcachepb.GetResponse
	if err := owner.Get(t.Context(), getRequest(group.Name(), "k"), &out); err != nil {
		t.Fatalf("Get before the freeze: %v", err)
	}
	for _, p := range proxies {
		p.freeze()
	}
	defer func() {
		for _, p := range proxies {
			p.thaw()
		}
	}()
	start := time.Now()
	err := owner.Get(t.Context(), getRequest(group.Name(), "k"), &out)
	if d := time.Since(start); d > callTimeout+time.Second {
		t.Errorf("Get past frozen owners: %v after %v; want an end within the call timeout, %v", err, d, callTimeout)
	}
}

// TestCloseFailsCallsWaitingToConnect: a Get waiting for its peer's connection (here a
// peer that accepts TCP but never sends its HTTP/2 preface) fails when the client is
// closed, as Close's comment says of calls in flight, rather than at its deadline.
func TestCloseFailsCallsWaitingToConnect(t *testing.T) {
	leakcheck.Check(t)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var accepted sync.WaitGroup
	accepted.Go(func() {
		for {
			c, err := lis.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { c.Close() })
		}
	})
	t.Cleanup(func() { lis.Close(); accepted.Wait() })
	cfg := testConfig(WithCallTimeout(5 * time.Second))
	p := newPeerClient(lis.Addr().String(), newTestChannel(t, cfg), cfg, &counters{}, &loopGuard{})
	done := make(chan error, 1)
	go func() {
		var out groupcachepb.GetResponse
		done <- p.Get(t.Context(), getRequest("g", "k"), &out)
	}()
	waitUntil(t, "the call waits for the connection", func() bool { return p.conn.connState() == connectivity.Connecting })
	start := time.Now()
	p.Close()
	err = <-done
	if waited := time.Since(start); waited > time.Second {
		t.Errorf("the Get waiting to connect returned %v after Close, %v later; want at once", err, waited)
	}
}
