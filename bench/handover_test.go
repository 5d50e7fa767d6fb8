package bench

// The hand-over of a leaving pod's cache: when a pod's endpoint turns terminating (its
// graceful delete has begun: serving, not ready), its ring changes, and the pusher (the
// root's pusher.go) hands every entry it holds to the key's new owner, at most pushRate
// bytes a second (32 MiB/s). BenchmarkHandover times it for a 64 MiB cache.
//
// The Service has three pods, each a helper process of its own (role handover) on
// 127.3.0.1 (the leaving pod), 127.3.0.2 and 127.3.0.3, all on one port, each with its
// own fake API server listing the three ready, a PeersManager with its defaults
// (registered with groupcache, its own gRPC server, the hand-off on) and a group made by
// NewGroup. Before each hand-over the leaving pod loads handoverEntries keys it owns,
// values of handoverValueSize bytes, through its getter, so that they are in its cache
// and its key log: 64 MiB. Then each pod's API server sends the change (the leaving pod's
// endpoint serving and terminating): first to the two others, which then own the keys
// (a push the owner has not seen the change for is refused and tried again 250 ms later:
// this measures the push, not the watch's spread), then to the leaving pod. The time
// runs from that last change until both others have stored every entry they were
// pushed, as their servers' interceptors count them; each hand-over starts from fresh
// processes, outside the time.
//
// The figures, per hand-over: ns/op is that time; held/op the entries the leaving pod
// held; sent/op, pushed-B/op, failed/op and push-ns/op its Stats' PushesSent,
// PushedBytesSent, PushFailures and PushTime; received/op, received-B/op and
// dropped/op the others' PushesReceived, PushedBytesReceived and PushesDropped, summed;
// wire-out-B/op and wire-in-B/op the bytes the leaving pod's peer connections wrote and
// read (TCP payload: HTTP/2 and gRPC framing included, TCP/IP headers not). After the
// time, each other pod gets every key it owns now through its group, whose getter fails:
// the benchmark fails unless each finds in its cache as many entries as it counted stored,
// each with the leaving pod's value. A hand-over that misses entries does not fail: its
// figures show it (received/op below held/op), and the report's goal judges them.

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang/groupcache"
	k8s "github.com/groupcache-k8s/k8s"
	"github.com/groupcache-k8s/k8s/internal/fakeapi"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"k8s.io/apimachinery/pkg/watch"
)

const (
	handoverRole      = "handover"
	handoverGroup     = "handover"
	handoverEntries   = 1024
	handoverValueSize = 64 << 10 // handoverEntries of them: 64 MiB
	// handoverCache is every pod's cacheBytes: the 64 MiB and their keys fit.
	handoverCache = 128 << 20
	// handoverWait bounds a hand-over: twice Handoff.Drain's default, so that a slow one
	// is measured (and misses the report's goal) rather than cut short.
	handoverWait = 30 * time.Second
)

// handoverIPs are the pods of the Service; the first leaves.
var handoverIPs = []string{"127.3.0.1", "127.3.0.2", "127.3.0.3"}

func BenchmarkHandover(b *testing.B) {
	b.Run(fmt.Sprintf("pods=%d/impl=ours", len(handoverIPs)), func(b *testing.B) {
		b.StopTimer() // each hand-over starts its pods outside the time
		var sum handoverRun
		for range b.N {
			s, err := startHandoverScene(handoverEntries, handoverValueSize)
			if err != nil {
				b.Fatal(err)
			}
			r, err := s.handOver(b.StartTimer, b.StopTimer)
			if err == nil {
				err = s.check(r)
			}
			err = errors.Join(err, s.stop())
			if err != nil {
				b.Fatal(err)
			}
			if r.received != r.held {
				b.Logf("the others stored %d of the %d entries the leaving pod held (it sent %d, %d pushes failed)",
					r.received, r.held, r.sent, r.failed)
			}
			sum.add(r)
		}
		n := float64(b.N)
		for _, m := range []struct {
			v    int64
			unit string
		}{
			{sum.held, "held/op"}, {sum.sent, "sent/op"}, {sum.sentBytes, "pushed-B/op"}, {sum.failed, "failed/op"},
			{sum.pushNanos, "push-ns/op"}, {sum.received, "received/op"}, {sum.receivedBytes, "received-B/op"},
			{sum.dropped, "dropped/op"}, {sum.wireOut, "wire-out-B/op"}, {sum.wireIn, "wire-in-B/op"},
		} {
			b.ReportMetric(float64(m.v)/n, m.unit)
		}
	})
}

// TestHandoverStoresEveryEntry checks BenchmarkHandover's scene on a small cache: every
// entry the leaving pod held reaches its new owner's cache with its value, and the counts
// on both sides agree.
func TestHandoverStoresEveryEntry(t *testing.T) {
	if testing.Short() {
		t.Skip("starts helper processes")
	}
	const entries, size = 64, 4 << 10
	s, err := startHandoverScene(entries, size)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.stop(); err != nil {
			t.Error(err)
		}
	})
	r, err := s.handOver(func() {}, func() {})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.check(r); err != nil {
		t.Error(err)
	}
	for _, c := range []struct {
		what      string
		got, want int64
	}{
		{"entries held", r.held, entries},
		{"pushes sent", r.sent, entries},
		{"bytes pushed", r.sentBytes, entries * size},
		{"pushes received", r.received, entries},
		{"bytes received", r.receivedBytes, entries * size},
	} {
		if c.got != c.want {
			t.Errorf("%s: %d, want %d", c.what, c.got, c.want)
		}
	}
	if r.wireOut < r.sentBytes || r.wireIn == 0 {
		t.Errorf("the leaving pod's connections wrote %d bytes and read %d; want at least the %d bytes pushed, and some back",
			r.wireOut, r.wireIn, r.sentBytes)
	}
}

// handoverRun is what one hand-over measured (or the sum of several).
type handoverRun struct {
	held, sent, sentBytes, failed, pushNanos int64            // the leaving pod's
	received, receivedBytes, dropped         int64            // the others', summed
	wireOut, wireIn                          int64            // the leaving pod's peer connections
	owners, receivedBy                       map[string]int64 // entries for each other pod, and stored by it
}

func (r *handoverRun) add(o handoverRun) {
	r.held += o.held
	r.sent += o.sent
	r.sentBytes += o.sentBytes
	r.failed += o.failed
	r.pushNanos += o.pushNanos
	r.received += o.received
	r.receivedBytes += o.receivedBytes
	r.dropped += o.dropped
	r.wireOut += o.wireOut
	r.wireIn += o.wireIn
}

// handoverScene is the three pods of one hand-over.
type handoverScene struct {
	leaving *child
	others  []*child
	ids     []string // the others' "ip:port", in the order of others
	lastKey int      // the leaving pod loaded keys entry-0 … entry-lastKey that it owns
}

// startHandoverScene starts the pods, the leaving one holding entries values of size
// bytes, and waits until they are ready.
func startHandoverScene(entries, size int) (*handoverScene, error) {
	var err error
	for range 3 { // a port free on the leaving pod's address may be taken on another's
		var port int
		if port, err = freePort(handoverIPs[0]); err != nil {
			return nil, err
		}
		var s *handoverScene
		if s, err = startHandoverPods(port, entries, size); err == nil {
			return s, nil
		}
	}
	return nil, err
}

// startHandoverPods starts the others, then the leaving pod: its loads peek the others
// (it starts ready among them, see newHandoverPod), and a peer that refuses a connection is
// marked unavailable, which a push then skips.
func startHandoverPods(port, entries, size int) (*handoverScene, error) {
	start := func(ip string, entries int) (*child, []string, error) {
		return startChild("handover-"+ip, handoverRole, "BENCH_HANDOVER_SELF="+ip, "BENCH_HANDOVER_PORT="+strconv.Itoa(port),
			fmt.Sprintf("BENCH_HANDOVER_ENTRIES=%d", entries), fmt.Sprintf("BENCH_HANDOVER_VALUE=%d", size))
	}
	s := &handoverScene{others: make([]*child, len(handoverIPs)-1)}
	errs := make([]error, len(s.others))
	var wg sync.WaitGroup
	for i, ip := range handoverIPs[1:] {
		wg.Go(func() { s.others[i], _, errs[i] = start(ip, 0) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, errors.Join(err, s.stop())
	}
	var ready []string
	var err error
	if s.leaving, ready, err = start(handoverIPs[0], entries); err != nil {
		return nil, errors.Join(err, s.stop())
	}
	if len(ready) != 1 {
		return nil, errors.Join(fmt.Errorf("the leaving pod said ready %q, want its last key's number", ready), s.stop())
	}
	s.lastKey = atoi(ready[0])
	for _, ip := range handoverIPs[1:] {
		s.ids = append(s.ids, net.JoinHostPort(ip, strconv.Itoa(port)))
	}
	return s, nil
}

// stop stops the pods.
func (s *handoverScene) stop() error {
	var errs []error
	for _, c := range append([]*child{s.leaving}, s.others...) {
		if c != nil {
			errs = append(errs, c.stop())
		}
	}
	return errors.Join(errs...)
}

// handOver turns the leaving pod's endpoint terminating, in the others' API servers
// first, and waits until they have stored every entry the leaving pod owns no more, or
// handoverWait has passed (the figures then show fewer entries received than held);
// start and stop bracket the time from the leaving pod's change to the last entry stored.
func (s *handoverScene) handOver(start, stop func()) (handoverRun, error) {
	r := handoverRun{owners: map[string]int64{}, receivedBy: map[string]int64{}}
	for _, c := range s.others {
		if err := expectOK(c.call(handoverWait, "leave")); err != nil {
			return r, err
		}
	}
	start()
	f, err := s.leaving.call(handoverWait, "leave")
	if err = expectOK(f, err); err != nil {
		stop()
		return r, err
	}
	for _, owner := range f[1:] { // ID=COUNT for each new owner
		id, n, _ := strings.Cut(owner, "=")
		r.owners[id] = int64(atoi(n))
		r.held += int64(atoi(n))
	}
	deadline := time.Now().Add(handoverWait)
	for i, c := range s.others {
		f, err := c.call(handoverWait+time.Second, "wait %d %d", r.owners[s.ids[i]], max(time.Until(deadline).Milliseconds(), 0))
		if err = expectOK(f, err); err != nil || len(f) != 5 {
			stop()
			return r, fmt.Errorf("waiting for the entries of %s: %q, %v", s.ids[i], f, err)
		}
		r.received += int64(atoi(f[1]))
		r.receivedBy[s.ids[i]] = int64(atoi(f[1]))
		r.receivedBytes += int64(atoi(f[2]))
		r.dropped += int64(atoi(f[3]))
	}
	stop()
	f, err = s.leaving.call(handoverWait, "done %d", handoverWait.Milliseconds())
	if err = expectOK(f, err); err != nil || len(f) != 7 {
		return r, fmt.Errorf("the leaving pod's pushes: %q, %v", f, err)
	}
	r.sent, r.sentBytes, r.failed, r.pushNanos = int64(atoi(f[1])), int64(atoi(f[2])), int64(atoi(f[3])), int64(atoi(f[4]))
	r.wireOut, r.wireIn = int64(atoi(f[5])), int64(atoi(f[6]))
	return r, nil
}

// check has each other pod get every key it owns now and reports an error unless it
// finds exactly as many entries of the leaving pod in its cache as its Stats say it
// stored, each with the leaving pod's value.
func (s *handoverScene) check(r handoverRun) error {
	for i, c := range s.others {
		f, err := c.call(handoverWait, "check %d", s.lastKey)
		if err = expectOK(f, err); err != nil || len(f) != 3 {
			return fmt.Errorf("checking %s: %q, %v", s.ids[i], f, err)
		}
		if hits, bad := atoi(f[1]), atoi(f[2]); int64(hits) != r.receivedBy[s.ids[i]] || bad > 0 {
			return fmt.Errorf("%s holds %d entries of the leaving pod, %d of them with a wrong value; its Stats say it stored %d",
				s.ids[i], hits, bad, r.receivedBy[s.ids[i]])
		}
	}
	return nil
}

// expectOK returns an error unless a helper answered ok.
func expectOK(f []string, err error) error {
	if err != nil {
		return err
	}
	if len(f) == 0 || f[0] != "ok" {
		return fmt.Errorf("helper answered %q", f)
	}
	return nil
}

// handoverKey is the key of number i, and handoverValue its value: size bytes of
// payload from an offset of its own.
func handoverKey(i int) string { return "entry-" + strconv.Itoa(i) }

func handoverValue(i, size int) []byte {
	off := i * 4099 % (len(payload) - size)
	return payload[off : off+size]
}

// wireCounter counts the bytes a pod's peer connections write and read.
type wireCounter struct{ out, in atomic.Int64 }

// countingCreds are credentials that hand the connections they secure to grpc through
// a countedConn. They wrap insecure credentials, as the library uses without
// WithTransportCredentials.
type countingCreds struct {
	credentials.TransportCredentials
	w *wireCounter
}

func (c countingCreds) ClientHandshake(ctx context.Context, authority string, conn net.Conn) (net.Conn, credentials.AuthInfo, error) {
	conn, info, err := c.TransportCredentials.ClientHandshake(ctx, authority, conn)
	if err != nil {
		return nil, nil, err
	}
	return &countedConn{Conn: conn, w: c.w}, info, nil
}

func (c countingCreds) Clone() credentials.TransportCredentials {
	return countingCreds{c.TransportCredentials.Clone(), c.w}
}

type countedConn struct {
	net.Conn
	w *wireCounter
}

func (c *countedConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.w.in.Add(int64(n))
	return n, err
}

func (c *countedConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.w.out.Add(int64(n))
	return n, err
}

// pushCounter counts the pushes a pod's server has answered with OK, and tells wait
// when they reach a number.
type pushCounter struct {
	mu     sync.Mutex
	n      int64
	target int64
	done   chan struct{} // closed once n reaches target
}

func newPushCounter() *pushCounter { return &pushCounter{done: make(chan struct{})} }

// intercept is a unary server interceptor that counts the pushes answered with OK.
func (p *pushCounter) intercept(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	res, err := handler(ctx, req)
	if err == nil && strings.HasSuffix(info.FullMethod, "/Push") {
		p.mu.Lock()
		p.n++
		p.reached()
		p.mu.Unlock()
	}
	return res, err
}

// reached closes done if n has reached a target. p.mu is held.
func (p *pushCounter) reached() {
	if p.target > 0 && p.n >= p.target {
		select {
		case <-p.done:
		default:
			close(p.done)
		}
	}
}

// wait waits until n pushes have been answered, or timeout has passed.
func (p *pushCounter) wait(n int64, timeout time.Duration) {
	if n == 0 {
		return
	}
	p.mu.Lock()
	p.target = n
	p.reached()
	p.mu.Unlock()
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-p.done:
	case <-t.C:
	}
}

// handoverPod is the pod of a handover helper.
type handoverPod struct {
	m       *benchManager
	self    string
	group   *groupcache.Group
	size    int
	keys    []string // the keys it loaded (the leaving pod)
	changes chan []string
	pushes  *pushCounter
	wire    *wireCounter
	// The wire counts when the change was sent: the loads before it peeked the others
	// (a pod that starts ready among others peeks their keys' previous owners).
	wireOut, wireIn int64
}

// newHandoverPod starts the pod on self (an IP of handoverIPs) and port, and loads
// entries keys it owns, values of size bytes.
func newHandoverPod(self string, port, entries, size int) (*handoverPod, int, error) {
	p := &handoverPod{self: net.JoinHostPort(self, strconv.Itoa(port)), size: size,
		changes: make(chan []string, 16), pushes: newPushCounter(), wire: &wireCounter{}}
	opts := []k8s.Option{quietLogs, k8s.WithPeersChanged(func(peers []string) { p.changes <- peers }),
		k8s.WithServerOptions(grpc.ChainUnaryInterceptor(p.pushes.intercept)),
		k8s.WithDialOptions(grpc.WithTransportCredentials(countingCreds{insecure.NewCredentials(), p.wire}))}
	m, err := newBenchManager(handoverIPs, port, p.self, opts...)
	if err != nil {
		return nil, 0, err
	}
	p.m = m
	<-p.changes // the first LIST's
	failed := errors.New("this pod's getter was called: a key it was to be pushed is not in its cache")
	p.group = m.NewGroup(handoverGroup, handoverCache, groupcache.GetterFunc(
		func(_ context.Context, key string, dest groupcache.Sink) error {
			if entries == 0 {
				return failed
			}
			i, err := strconv.Atoi(strings.TrimPrefix(key, "entry-"))
			if err != nil {
				return err
			}
			return dest.SetBytes(handoverValue(i, size))
		}))
	last := -1
	for i := 0; len(p.keys) < entries; i++ {
		key := handoverKey(i)
		if m.Owner(key) != p.self {
			continue
		}
		var v []byte
		if err := p.group.Get(context.Background(), key, groupcache.AllocatingByteSliceSink(&v)); err != nil {
			m.Close()
			return nil, 0, err
		}
		p.keys, last = append(p.keys, key), i
	}
	return p, last, nil
}

// command runs one command and returns the answer line:
//
//	leave            → ok [ID=COUNT ...]
//	wait N MS        → ok STORED BYTES DROPPED REFUSED
//	done MS          → ok SENT BYTES FAILURES PUSH_NS WIRE_OUT WIRE_IN
//	check LAST       → ok HITS BAD
//
// leave has the pod's API server send the change that makes the leaving pod terminating
// and answers once the pod's ring has changed; the leaving pod answers with how many of
// its keys each new owner owns. wait waits until the pod's server has answered N pushes
// (at most MS milliseconds) and answers with its Stats' PushesReceived,
// PushedBytesReceived, PushesDropped and PushesRefused. done waits until the leaving
// pod's pushes have ended (at most MS milliseconds) and answers with its Stats and the
// bytes its peer connections wrote and read. check gets every key entry-0 … entry-LAST
// that the pod owns now and counts those its cache held, and those whose value was not
// the leaving pod's.
func (p *handoverPod) command(line string) string {
	f := strings.Fields(line)
	if len(f) == 0 {
		return "error empty command"
	}
	switch {
	case f[0] == "leave" && len(f) == 1:
		return p.leave()
	case f[0] == "wait" && len(f) == 3:
		p.pushes.wait(int64(atoi(f[1])), time.Duration(atoi(f[2]))*time.Millisecond) // the Stats say how far it got
		st := p.m.Stats()
		return fmt.Sprintf("ok %d %d %d %d", st.PushesReceived, st.PushedBytesReceived, st.PushesDropped, st.PushesRefused)
	case f[0] == "done" && len(f) == 2:
		return p.done(time.Duration(atoi(f[1])) * time.Millisecond)
	case f[0] == "check" && len(f) == 2:
		return p.check(atoi(f[1]))
	}
	return fmt.Sprintf("error bad command %q", line)
}

func (p *handoverPod) leave() string {
	slice := withLeaving(endpointSlice(0, handoverIPs, ""), handoverIPs[0])
	ctx, cancel := context.WithTimeout(context.Background(), handoverWait)
	defer cancel()
	p.wireOut, p.wireIn = p.wire.out.Load(), p.wire.in.Load()
	if err := p.m.api.push(ctx, fakeapi.EventFrame(watch.Modified, 2, &slice)); err != nil {
		return "error " + err.Error()
	}
	select {
	case <-p.changes:
	case <-ctx.Done():
		return "error the ring did not change"
	}
	owners := map[string]int{}
	for _, key := range p.keys {
		owners[p.m.Owner(key)]++
	}
	out := []string{"ok"}
	for id, n := range owners {
		out = append(out, fmt.Sprintf("%s=%d", id, n))
	}
	return strings.Join(out, " ")
}

// done waits until the pusher has ended its job: its time is added to Stats.PushTime
// when it ends. The pusher tells nobody outside the library, so done looks every
// millisecond.
func (p *handoverPod) done(timeout time.Duration) string {
	deadline := time.Now().Add(timeout)
	st := p.m.Stats()
	for ; st.PushTime == 0 && time.Now().Before(deadline); st = p.m.Stats() {
		time.Sleep(time.Millisecond)
	}
	if st.PushTime == 0 {
		return fmt.Sprintf("error the pushes did not end within %v", timeout)
	}
	return fmt.Sprintf("ok %d %d %d %d %d %d", st.PushesSent, st.PushedBytesSent, st.PushFailures, st.PushTime.Nanoseconds(),
		p.wire.out.Load()-p.wireOut, p.wire.in.Load()-p.wireIn)
}

func (p *handoverPod) check(last int) string {
	hits, bad := 0, 0
	for i := 0; i <= last; i++ {
		key := handoverKey(i)
		if p.m.Owner(key) != p.self {
			continue
		}
		var v []byte
		if err := p.group.Get(context.Background(), key, groupcache.AllocatingByteSliceSink(&v)); err != nil {
			continue // not pushed here: the getter fails
		}
		hits++
		if string(v) != string(handoverValue(i, p.size)) {
			bad++
		}
	}
	return fmt.Sprintf("ok %d %d", hits, bad)
}

// handoverMain is a handover helper: a pod of BenchmarkHandover. It prints "ready" and,
// for the leaving pod, the number of the last key it loaded, then answers one line per
// command until stdin closes.
func handoverMain() error {
	env := func(name string) int { return atoi(os.Getenv(name)) }
	p, last, err := newHandoverPod(os.Getenv("BENCH_HANDOVER_SELF"), env("BENCH_HANDOVER_PORT"),
		env("BENCH_HANDOVER_ENTRIES"), env("BENCH_HANDOVER_VALUE"))
	if err != nil {
		return err
	}
	defer p.m.Close()
	var ready []string
	if len(p.keys) > 0 {
		ready = []string{strconv.Itoa(last)}
	}
	return answerCommands(p.command, ready...)
}
