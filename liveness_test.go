package k8s

// Tests of liveness: a peer that stops answering is marked unavailable within about a
// second and its calls fail at once; it is used again as soon as it answers; a peer that
// is only slow to load is never marked.

import (
	"context"
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/golang/groupcache"
	"github.com/golang/groupcache/groupcachepb"
	"github.com/groupcache-k8s/k8s/internal/leakcheck"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// freezer makes a server stop answering, as a frozen process or a partitioned node does
// to its peers: connections stay open, and every request (pings too) waits until thaw.
type freezer struct {
	mu     sync.Mutex
	thawed chan struct{} // closed while the server answers
}

func newFreezer() *freezer {
	f := &freezer{thawed: make(chan struct{})}
	close(f.thawed)
	return f
}

func (f *freezer) freeze() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.thawed = make(chan struct{})
}

func (f *freezer) thaw() {
	f.mu.Lock()
	defer f.mu.Unlock()
	close(f.thawed)
}

// option is the server option of a server that f freezes.
func (f *freezer) option() Option {
	return WithServerOptions(grpc.UnaryInterceptor(func(ctx context.Context, req any, _ *grpc.UnaryServerInfo,
		handler grpc.UnaryHandler) (any, error) {
		f.mu.Lock()
		thawed := f.thawed
		f.mu.Unlock()
		select {
		case <-thawed:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		return handler(ctx, req)
	}))
}

// livePeer is a router of self "s:1" whose one other member is a server, and a group
// that server answers from.
type livePeer struct {
	router *router
	stats  *counters
	peer   string
	group  *groupcache.Group
	key    string // a key the peer owns
}

func startLivePeer(t *testing.T, getter groupcache.GetterFunc, serverOpts ...Option) livePeer {
	t.Helper()
	leakcheck.Check(t)
	server := startTestServer(t, "", serverOpts...)
	cfg := testConfig()
	stats := &counters{}
	r := newRouter("s:1", cfg, stats, &loopGuard{}, newTestChannel(t, cfg))
	t.Cleanup(func() { r.stop(); r.closeClients() })
	peer := server.addr()
	r.apply(view{members: []string{peer, "s:1"}, selfReady: true})
	return livePeer{router: r, stats: stats, peer: peer, group: newTestGroup(t, getter), key: keyOwnedBy(t, r.snapshot(), peer)}
}

// get asks the peer for key as groupcache would, and returns the error and how long it took.
func (l livePeer) get(key string) (time.Duration, error) {
	start := time.Now()
	var out groupcachepb.GetResponse
	err := l.router.snapshot().clients[l.peer].Get(context.Background(), getRequest(l.group.Name(), key), &out)
	return time.Since(start), err
}

// TestFrozenPeerFailsFast: calls outstanding to a peer that stops answering fail within
// about a second, not after the 5 s call timeout; later calls fail at once; the peer is
// counted as marked once, and used again soon after it answers.
func TestFrozenPeerFailsFast(t *testing.T) {
	f := newFreezer()
	l := startLivePeer(t, echoGetter, f.option())
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

// trickle is a TCP proxy to target that passes the answers back slowly, in small pieces,
// as a peer sending many large values at once over a busy network does: bytes keep
// coming, a call takes seconds, and an answer to a ping waits behind them.
func trickle(t *testing.T, target string) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	t.Cleanup(func() {
		lis.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Go(func() {
		for {
			in, err := lis.Accept()
			if err != nil {
				return
			}
			out, err := net.Dial("tcp", target)
			if err != nil {
				in.Close()
				continue
			}
			mu.Lock()
			conns = append(conns, in, out)
			mu.Unlock()
			wg.Go(func() { io.Copy(out, in) })
			wg.Go(func() {
				buf := make([]byte, 16<<10)
				for {
					n, err := out.Read(buf)
					if n > 0 {
						if _, err := in.Write(buf[:n]); err != nil {
							return
						}
					}
					if err != nil {
						return
					}
					time.Sleep(20 * time.Millisecond) // the slow network under test: 16 KiB every 20 ms
				}
			})
		}
	})
	return lis.Addr().String()
}

// TestBusyPeerIsNotMarkedUnavailable: a peer whose large answers come slowly, so that no
// call finishes for seconds and a ping's answer waits behind them, is sending bytes all
// along: it is not marked, and its callers get their values. It used to be marked within
// a second (in the remote benchmark, 64 callers of 4 MiB values on a loaded machine), which
// failed the calls and loaded the keys again.
func TestBusyPeerIsNotMarkedUnavailable(t *testing.T) {
	leakcheck.Check(t)
	server := startTestServer(t, "")
	const size = 1 << 20 // two of them take about 2.6 s through the trickle
	group := newTestGroup(t, func(_ context.Context, key string, dest groupcache.Sink) error {
		return dest.SetBytes(make([]byte, size))
	})
	peer := trickle(t, server.addr())
	cfg := testConfig()
	stats := &counters{}
	r := newRouter("s:1", cfg, stats, &loopGuard{}, newTestChannel(t, cfg))
	t.Cleanup(func() { r.stop(); r.closeClients() })
	r.apply(view{members: []string{peer, "s:1"}, selfReady: true})
	client := r.snapshot().clients[peer]
	var wg sync.WaitGroup
	for i := range 2 {
		wg.Go(func() {
			var out groupcachepb.GetResponse
			if err := client.Get(t.Context(), getRequest(group.Name(), fmt.Sprint("k", i)), &out); err != nil || len(out.Value) != size {
				t.Errorf("Get of a large value from the busy peer: %d bytes, %v", len(out.Value), err)
			}
		})
	}
	wg.Wait()
	if got := stats.peersMarkedUnavailable.Load(); got != 0 {
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
		if slots[i], ok = h.begin(cancel); !ok {
			t.Fatalf("call %d refused before the mark", i)
		}
	}
	h.end(slots[1]) // finished before the mark: not cancelled
	if !h.markUnavailable() || h.markUnavailable() {
		t.Error("markUnavailable: want true the first time only")
	}
	for i, ctx := range ctxs {
		if cancelled := ctx.Err() != nil; cancelled != (i != 1) {
			t.Errorf("call %d cancelled = %v", i, cancelled)
		}
	}
	if slot, ok := h.begin(func() {}); ok {
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
		begin, end  int   // calls begun and ended before the look
		read        int64 // bytes read from the peer before the look
		unavailable bool
		want        bool
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"no call outstanding", []step{{at: at(0)}, {at: at(time.Second)}}},
		{"one call outstanding for suspectAfter", []step{
			{at: at(0), begin: 1}, {at: at(suspectAfter - time.Millisecond)}, {at: at(suspectAfter), want: true}}},
		{"calls finishing meanwhile count afresh", []step{
			{at: at(0), begin: 2}, {at: at(suspectAfter), end: 1}, {at: at(2*suspectAfter - time.Millisecond)},
			{at: at(2 * suspectAfter), want: true}}},
		{"calls finished", []step{{at: at(0), begin: 1}, {at: at(suspectAfter), end: 1}, {at: at(time.Second)}}},
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
					slot, _ := h.begin(func() {})
					open = append(open, slot)
				}
				for range st.end {
					h.end(open[0])
					open = open[1:]
				}
				h.unavailable.Store(st.unavailable)
				if got := h.suspect(st.at, read); got != st.want {
					t.Errorf("step %d: suspect = %v, want %v", i, got, st.want)
				}
			}
		})
	}
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
