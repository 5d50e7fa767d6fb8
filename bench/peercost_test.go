package bench

// The cost of N peers: what one pod's process pays, in goroutines, live heap and open
// files, for a Service of N reachable peers, ours (a PeersManager) against groupcache's
// HTTPPool with its peers set by k8s.WatchPeers. BenchmarkPeerCost measures a state, not
// a time: run it with -benchtime 1x.
//
// Each case, N=…/impl=…, runs two helper processes (children_test.go) of its own:
//
//   - peers (role peers): the N peers, each on its own loopback address 127.1.x.y and
//     the same port, each address its own listener. For impl=grpc they are one gRPC
//     server serving groupcache through the library (a PeersManager attached with
//     WithGRPCServer) on all N listeners; for impl=httppool one http.Server with an
//     HTTPPool as its handler. A PeersManager per peer would be a thousand watches; the
//     peers' own costs are not what is measured.
//   - the pod (role peercost), the process measured, on 127.2.0.1 and that port. Its
//     Service, served by a fake API server in the pod's process (fakeapi_test.go), lists
//     the N peers and the pod. For impl=grpc it runs a PeersManager with its own gRPC
//     server; for impl=httppool an HTTPPool on an http.Server, its peers set by WatchPeers
//     on the same fake API. HTTPPool keeps its default transport, what its users get:
//     net/http's DefaultTransport, which keeps at most 100 idle connections in all, so
//     at 1000 peers it closes most connections after their Get (and would dial again).
//
// Loopback needs no network namespace: a process may listen on any 127.x.y.z, and the
// fake API server lists loopback endpoints as the real one would list pod IPs. The e2e
// test bed's addresses (192.0.2.x) would need `unshare -rn` and its real control plane,
// neither of which changes what a process's goroutines, heap and files count.
//
// The pod measures itself: goroutines (runtime.NumGoroutine), heap in use after two
// garbage collections (HeapAlloc; the second empties sync.Pool's victim caches), and
// open files (entries of /proc/self/fd), each once they have stopped changing (settle).
// The readings, and the figures each case reports per peer:
//
//   - base: the fake API up and its clientset made, before the manager or pool exists.
//   - idle: the manager or pool created and knowing every peer, before any traffic.
//     Reported as idle-…/peer, (idle − base) ÷ N.
//   - used: after one Get to every peer, of a key that peer owns, through the getter
//     PickPeer returns, as groupcache calls it; measured at once, before any idle timeout
//     could close a connection. Reported as used-…/peer, (used − base) ÷ N.
//   - served: after N distinct clients of the peers process, one per simulated pod, each
//     from its own peer's address, made one Get each to the pod's own server and keep
//     their connections. Reported as srv-…/peer, (served − used) ÷ N: the server side.
//
// What the pod pays once whatever N is (its server, the watch, the fake API's
// connection) counts in every N's figures; at 10 peers it is most of them.
//
// With BENCH_PROFILE_DIR set (children_test.go), the pod also writes a heap profile of
// every reading there, right after taking it, named after the helper and the reading:
// peercost-grpc-1000.used.heap.pprof. Two of them, with pprof's -base, show what one
// phase added: go tool pprof -base ….idle.heap.pprof ….used.heap.pprof is what the Gets
// added. The pod then records every allocation (GODEBUG=memprofilerate=1 from its
// start), so that the profiles' in-use bytes are exact rather than sampled every 512 KiB.
// The figures do not change: the profiler's records are not heap that HeapAlloc counts,
// a profile is written after its reading, and the pod writes one to io.Discard before
// its first reading, so that the little a first profile keeps is in every reading alike.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang/groupcache"
	pb "github.com/golang/groupcache/groupcachepb"
	k8s "github.com/groupcache-k8s/k8s"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/protoadapt"
	"k8s.io/client-go/kubernetes"
)

var (
	// peerCounts are the Service sizes of BenchmarkPeerCost.
	peerCounts = []int{10, 100, 1000}
	// httppool first: benchstat compares the other column with the first.
	peerCostImpls = []string{"httppool", "grpc"}
)

const (
	peerCostGroup = "peercost" // served by the peers and by the pod
	peerCostPodIP = "127.2.0.1"
	peerCostValue = 100 // bytes of every value the getters return
	// costGetMethod is the full gRPC method name of Get (the library's service).
	costGetMethod = "/groupcachepb.GroupCache/Get"
	// costCallTimeout bounds one Get of the benchmark.
	costCallTimeout = 10 * time.Second
	// costProfileRate is the pod's runtime.MemProfileRate with BENCH_PROFILE_DIR set:
	// every allocation.
	costProfileRate = 1
	// A reading waits until the goroutine count and the open files have not changed for
	// settleQuiet, polling every settlePoll: connections close, and their goroutines
	// exit, some time after the call that ended them. After settleLimit it fails.
	settleQuiet = 200 * time.Millisecond
	settlePoll  = 10 * time.Millisecond
	settleLimit = 30 * time.Second
)

func BenchmarkPeerCost(b *testing.B) {
	for _, n := range peerCounts {
		for _, impl := range peerCostImpls {
			b.Run(fmt.Sprintf("N=%d/impl=%s", n, impl), func(b *testing.B) {
				c, err := measurePeerCost(impl, n)
				if err != nil {
					b.Fatal(err)
				}
				b.ReportMetric(0, "ns/op") // a state, not a time: no ns/op
				for _, p := range []struct {
					phase string
					delta usage
				}{
					{"idle", c.idle.minus(c.base)},
					{"used", c.used.minus(c.base)},
					{"srv", c.served.minus(c.used)},
				} {
					b.ReportMetric(float64(p.delta.goroutines)/float64(n), p.phase+"-goroutines/peer")
					b.ReportMetric(float64(p.delta.heap)/float64(n), p.phase+"-heap-B/peer")
					b.ReportMetric(float64(p.delta.files)/float64(n), p.phase+"-files/peer")
				}
			})
		}
	}
}

// usage is one reading of the pod's process.
type usage struct {
	goroutines, heap, files int
}

func (u usage) minus(v usage) usage {
	return usage{u.goroutines - v.goroutines, u.heap - v.heap, u.files - v.files}
}

// peerCost is the pod's readings of one case.
type peerCost struct {
	base, idle, used, served usage
}

// measurePeerCost runs one case: it starts the peers and the pod, takes the readings and
// stops both.
func measurePeerCost(impl string, n int) (c peerCost, err error) {
	env := []string{"BENCH_IMPL=" + impl, "BENCH_PEER_COUNT=" + strconv.Itoa(n)}
	peers, ready, err := startChild(fmt.Sprintf("peers-%s-%d", impl, n), "peers", env...)
	if err != nil {
		return c, err
	}
	defer func() { err = errors.Join(err, peers.stop()) }()
	if len(ready) != 1 {
		return c, fmt.Errorf("peers helper said ready %q, want the port", ready)
	}
	port := ready[0]
	podEnv := append(env, "BENCH_PEER_PORT="+port)
	profile := os.Getenv("BENCH_PROFILE_DIR") != "" // the pod's heap profiles, one a reading
	if profile {
		// From the process's start: package initialisation allocates too.
		podEnv = append(podEnv, "GODEBUG="+strings.Trim(os.Getenv("GODEBUG")+",memprofilerate="+strconv.Itoa(costProfileRate), ","))
	}
	pod, _, err := startChild(fmt.Sprintf("peercost-%s-%d", impl, n), "peercost", podEnv...)
	if err != nil {
		return c, err
	}
	defer func() { err = errors.Join(err, pod.stop()) }() // before the peers: the pod's calls end first

	call := func(h *child, format string, args ...any) ([]string, error) {
		f, err := h.call(helperTimeout, format, args...)
		if err == nil && (len(f) == 0 || f[0] != "ok") {
			err = fmt.Errorf("helper %s answered %q to %q", h.name, strings.Join(f, " "), fmt.Sprintf(format, args...))
		}
		return f, err
	}
	read := func(u *usage, reading string) error {
		f, err := call(pod, "measure")
		if err == nil && len(f) != 4 {
			err = fmt.Errorf("pod answered %q to measure, want ok GOROUTINES HEAP FILES", f)
		}
		if err == nil {
			*u = usage{goroutines: atoi(f[1]), heap: atoi(f[2]), files: atoi(f[3])}
		}
		if err == nil && profile {
			_, err = call(pod, "profile %s", reading)
		}
		return err
	}
	if err := read(&c.base, "base"); err != nil {
		return c, err
	}
	started, err := call(pod, "start")
	if err != nil {
		return c, err
	}
	if len(started) != 2 {
		return c, fmt.Errorf("pod answered %q to start, want ok and a key it owns", started)
	}
	if err := read(&c.idle, "idle"); err != nil {
		return c, err
	}
	if _, err := call(pod, "get"); err != nil {
		return c, err
	}
	if err := read(&c.used, "used"); err != nil {
		return c, err
	}
	if _, err := call(peers, "call %s %s", net.JoinHostPort(peerCostPodIP, port), started[1]); err != nil {
		return c, err
	}
	return c, read(&c.served, "served")
}

// costPeerIPs are the addresses of n peers: 127.1.0.1, 127.1.0.2, … (250 to a third octet).
func costPeerIPs(n int) []string {
	ips := make([]string, n)
	for i := range ips {
		ips[i] = fmt.Sprintf("127.1.%d.%d", i/250, i%250+1)
	}
	return ips
}

// costGetter is the getter of the peers and of the pod: a value of peerCostValue bytes.
var costGetter = groupcache.GetterFunc(func(_ context.Context, _ string, dest groupcache.Sink) error {
	return dest.SetBytes(payload[:peerCostValue])
})

// envPeers reads BENCH_IMPL and BENCH_PEER_COUNT.
func envPeers() (impl string, n int, err error) {
	impl = os.Getenv("BENCH_IMPL")
	if impl != "grpc" && impl != "httppool" {
		return "", 0, fmt.Errorf("BENCH_IMPL=%q: want grpc or httppool", impl)
	}
	n, err = strconv.Atoi(os.Getenv("BENCH_PEER_COUNT"))
	if err != nil || n < 1 {
		return "", 0, fmt.Errorf("BENCH_PEER_COUNT=%q: want a positive count", os.Getenv("BENCH_PEER_COUNT"))
	}
	return impl, n, nil
}

// ---- The pod ----

// costPod is the measured process: a pod whose Service lists n peers and itself.
type costPod struct {
	impl  string
	n     int
	port  int
	self  string // "127.2.0.1:port"
	api   *benchAPI
	cs    kubernetes.Interface
	pick  groupcache.PeerPicker // nil until start
	close []func()              // what start started, in the order to stop it
}

// peerCostMain is the pod: it prints "ready", then answers one line per command until
// stdin closes (costPod.command).
func peerCostMain() error {
	impl, n, err := envPeers()
	if err != nil {
		return err
	}
	port, err := strconv.Atoi(os.Getenv("BENCH_PEER_PORT"))
	if err != nil {
		return fmt.Errorf("BENCH_PEER_PORT: %w", err)
	}
	if os.Getenv("BENCH_PROFILE_DIR") != "" {
		// What writing a first heap profile keeps (a few KiB) is then in every reading,
		// not only in those after it.
		pprof.Lookup("heap").WriteTo(io.Discard, 0)
	}
	p := &costPod{impl: impl, n: n, port: port, self: net.JoinHostPort(peerCostPodIP, strconv.Itoa(port))}
	p.api = newBenchAPI(append(costPeerIPs(n), peerCostPodIP))
	defer p.api.Close()
	p.cs = p.api.Clientset()
	defer func() {
		for i := len(p.close) - 1; i >= 0; i-- {
			p.close[i]()
		}
	}()
	return answerCommands(p.command)
}

// command runs one command and returns the answer line:
//
//	measure         → ok GOROUTINES HEAP_BYTES OPEN_FILES
//	start           → ok KEY   (the manager or pool runs; KEY is one the pod owns)
//	get             → ok       (one Get to every peer)
//	profile READING → ok       (a heap profile named after READING: writeHeapProfile)
func (p *costPod) command(line string) string {
	var err error
	if reading, ok := strings.CutPrefix(line, "profile "); ok {
		if err = writeHeapProfile(reading); err == nil {
			return "ok"
		}
		return "error " + err.Error()
	}
	switch line {
	case "measure":
		var u usage
		if u, err = measureUsage(); err == nil {
			return fmt.Sprintf("ok %d %d %d", u.goroutines, u.heap, u.files)
		}
	case "start":
		if err = p.start(); err == nil {
			return "ok " + p.ownKey()
		}
	case "get":
		if err = p.getEveryPeer(); err == nil {
			return "ok"
		}
	default:
		err = fmt.Errorf("unknown command %q", line)
	}
	return "error " + err.Error()
}

// start creates the manager or the pool, its server on self and the group.
func (p *costPod) start() error {
	if p.pick != nil {
		return errors.New("started already")
	}
	ctx := context.Background()
	switch p.impl {
	case "grpc":
		// Registered with groupcache, serving on self, the hand-off on: as in a pod. Nobody
		// peeks this pod, so its Close need not drain.
		m, err := k8s.NewPeersManager(ctx, p.cs, benchService, benchNamespace, p.port, p.self,
			benchWatchOptions(k8s.WithHandoff(k8s.Handoff{Drain: time.Millisecond}), quietLogs)...)
		if err != nil {
			return err
		}
		p.close = append(p.close, func() { m.Close() })
		m.NewGroup(peerCostGroup, 1<<20, costGetter)
		p.pick = m
	case "httppool":
		// What example/cmd/testonly_httppool.go does (TESTONLY_TRANSPORT=httppool).
		pool := groupcache.NewHTTPPoolOpts("http://"+p.self, nil)
		lis, err := net.Listen("tcp4", p.self)
		if err != nil {
			return err
		}
		hs := &http.Server{Handler: pool}
		go hs.Serve(lis)
		p.close = append(p.close, func() { hs.Close() })
		w, err := k8s.WatchPeers(ctx, p.cs, benchService, benchNamespace, p.port, p.self, func(peers []string) {
			urls := make([]string, len(peers))
			for i, id := range peers {
				urls[i] = "http://" + id
			}
			pool.Set(urls...)
		}, benchWatchOptions(quietLogs)...)
		if err != nil {
			return err
		}
		p.close = append(p.close, func() { w.Close() })
		groupcache.NewGroup(peerCostGroup, 1<<20, costGetter)
		p.pick = pool
	}
	return nil
}

// ownKey is a key the pod owns itself.
func (p *costPod) ownKey() string {
	for i := 0; ; i++ {
		k := "own-" + strconv.Itoa(i)
		if _, remote := p.pick.PickPeer(k); !remote {
			return k
		}
	}
}

// getEveryPeer makes one Get to every peer, one after the other, of a key that peer
// owns, through the getter PickPeer returns for it.
func (p *costPod) getEveryPeer() error {
	if p.pick == nil {
		return errors.New("not started")
	}
	// PickPeer returns the same getter for every key of a peer: the first key that
	// brings a new getter is one its peer owns.
	var getters []groupcache.ProtoGetter
	var keys []string
	seen := make(map[groupcache.ProtoGetter]bool)
	const tries = 1000 // keys per peer, at most: HTTPPool's ring gives some peers little
	for i := 0; len(getters) < p.n && i < tries*p.n; i++ {
		k := "k" + strconv.Itoa(i)
		if g, remote := p.pick.PickPeer(k); remote && !seen[g] {
			seen[g] = true
			getters, keys = append(getters, g), append(keys, k)
		}
	}
	if len(getters) != p.n {
		return fmt.Errorf("%d keys reached %d peers, want all %d", tries*p.n, len(getters), p.n)
	}
	group := peerCostGroup
	for i, g := range getters {
		ctx, cancel := context.WithTimeout(context.Background(), costCallTimeout)
		res := &pb.GetResponse{}
		err := g.Get(ctx, &pb.GetRequest{Group: &group, Key: &keys[i]}, res)
		cancel()
		if err == nil && len(res.Value) != peerCostValue {
			err = fmt.Errorf("got %d bytes, want %d", len(res.Value), peerCostValue)
		}
		if err != nil {
			return fmt.Errorf("Get of %q from its owner: %w", keys[i], err)
		}
	}
	return nil
}

// measureUsage reads the process once its goroutines and open files have settled.
func measureUsage() (usage, error) {
	if err := settle(); err != nil {
		return usage{}, err
	}
	runtime.GC()
	runtime.GC() // the first moved sync.Pool's contents to its victim caches
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	files, err := openFiles()
	return usage{goroutines: runtime.NumGoroutine(), heap: int(ms.HeapAlloc), files: files}, err
}

// writeHeapProfile writes the heap profile of the process, after a garbage collection,
// to BENCH_PROFILE_DIR/<helper>.<reading>.heap.pprof.
func writeHeapProfile(reading string) error {
	dir := os.Getenv("BENCH_PROFILE_DIR")
	if dir == "" {
		return errors.New("BENCH_PROFILE_DIR is not set")
	}
	f, err := os.Create(filepath.Join(dir, os.Getenv("BENCH_CHILD_NAME")+"."+reading+".heap.pprof"))
	if err != nil {
		return err
	}
	runtime.GC() // the profile's in-use figures are those of the last collection
	return errors.Join(pprof.Lookup("heap").WriteTo(f, 0), f.Close())
}

// settle waits until the goroutine count and the open files have not changed for
// settleQuiet. Nothing signals that a closed connection's goroutines have exited, or
// that a server has taken a connection in: only the counts tell.
func settle() error {
	count := func() (int, int, error) {
		files, err := openFiles()
		return runtime.NumGoroutine(), files, err
	}
	g, f, err := count()
	if err != nil {
		return err
	}
	start, since := time.Now(), time.Now()
	for time.Since(since) < settleQuiet {
		if time.Since(start) > settleLimit {
			return fmt.Errorf("goroutines and open files still changing after %v (now %d and %d)", settleLimit, g, f)
		}
		time.Sleep(settlePoll)
		g2, f2, err := count()
		if err != nil {
			return err
		}
		if g2 != g || f2 != f {
			g, f, since = g2, f2, time.Now()
		}
	}
	return nil
}

// openFiles is the number of the process's open file descriptors (the one reading the
// directory included, in every reading alike).
func openFiles() (int, error) {
	entries, err := os.ReadDir("/proc/self/fd")
	return len(entries), err
}

// ---- The peers ----

// peerSet is the peers process: n peers on their own addresses and one port.
type peerSet struct {
	impl    string
	ips     []string
	port    int
	stop    func()
	clients []func() // the simulated pods' clients of call, closed at the end
}

// peersMain is the peers: it prints "ready PORT", then answers one line per command
// until stdin closes (peerSet.command).
func peersMain() error {
	impl, n, err := envPeers()
	if err != nil {
		return err
	}
	ps, err := startPeerSet(impl, costPeerIPs(n))
	if err != nil {
		return err
	}
	defer ps.close()
	return answerCommands(ps.command, strconv.Itoa(ps.port))
}

// startPeerSet listens on every ip on one free port and serves the peers of impl there.
func startPeerSet(impl string, ips []string) (*peerSet, error) {
	var liss []net.Listener
	var port int
	var err error
	for range 5 { // a port free on the first address may be taken on another
		if port, err = freePort(ips[0]); err != nil {
			return nil, err
		}
		if liss, err = listenAll(ips, port); err == nil {
			break
		}
	}
	if err != nil {
		return nil, err
	}
	groupcache.NewGroup(peerCostGroup, 1<<20, costGetter) // every key is local here
	ps := &peerSet{impl: impl, ips: ips, port: port}
	switch impl {
	case "grpc":
		// One server, the library's service attached by a manager whose Service is the
		// first peer alone, serving every listener.
		srv := grpc.NewServer()
		m, err := newBenchManager(ips[:1], port, net.JoinHostPort(ips[0], strconv.Itoa(port)),
			k8s.WithGRPCServer(srv), k8s.WithoutPeerPickerRegistration(), k8s.WithHandoff(k8s.Handoff{Off: true}), quietLogs)
		if err != nil {
			closeAll(liss)
			return nil, err
		}
		for _, lis := range liss {
			go srv.Serve(lis)
		}
		ps.stop = func() { m.Close(); srv.Stop() }
	case "httppool":
		// Set is never called: the pool owns every key.
		pool := groupcache.NewHTTPPoolOpts("http://"+net.JoinHostPort(ips[0], strconv.Itoa(port)), nil)
		hs := &http.Server{Handler: pool}
		for _, lis := range liss {
			go hs.Serve(lis)
		}
		ps.stop = func() { hs.Close() }
	}
	return ps, nil
}

// listenAll listens on port of every ip, or on none.
func listenAll(ips []string, port int) ([]net.Listener, error) {
	liss := make([]net.Listener, 0, len(ips))
	for _, ip := range ips {
		lis, err := net.Listen("tcp4", net.JoinHostPort(ip, strconv.Itoa(port)))
		if err != nil {
			closeAll(liss)
			return nil, err
		}
		liss = append(liss, lis)
	}
	return liss, nil
}

func closeAll(liss []net.Listener) {
	for _, lis := range liss {
		lis.Close()
	}
}

func (ps *peerSet) close() {
	for _, c := range ps.clients {
		c()
	}
	ps.stop()
}

// command runs one command and returns the answer line:
//
//	call ADDR KEY → ok
//
// call makes one Get of KEY in peerCostGroup from every peer's address to the server at
// ADDR, each through a client of its own (a grpc.ClientConn, an http.Transport), one
// after the other; the clients stay open until the process exits.
func (ps *peerSet) command(line string) string {
	f := strings.Fields(line)
	if len(f) != 3 || f[0] != "call" {
		return fmt.Sprintf("error bad command %q", line)
	}
	for _, ip := range ps.ips {
		if err := ps.call(ip, f[1], f[2]); err != nil {
			return fmt.Sprintf("error a Get from %s: %v", ip, err)
		}
	}
	return "ok"
}

// call makes one Get of key to the server at addr, from a new client on ip.
func (ps *peerSet) call(ip, addr, key string) error {
	dialer := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	ctx, cancel := context.WithTimeout(context.Background(), costCallTimeout)
	defer cancel()
	res := &pb.GetResponse{}
	switch ps.impl {
	case "grpc":
		cc, err := grpc.NewClient("passthrough:///"+addr, grpc.WithTransportCredentials(insecure.NewCredentials()),
			grpc.WithContextDialer(func(ctx context.Context, addr string) (net.Conn, error) {
				return dialer.DialContext(ctx, "tcp4", addr)
			}))
		if err != nil {
			return err
		}
		ps.clients = append(ps.clients, func() { cc.Close() })
		group := peerCostGroup
		if err := cc.Invoke(ctx, costGetMethod, &pb.GetRequest{Group: &group, Key: &key}, res); err != nil {
			return err
		}
	case "httppool":
		tr := &http.Transport{DialContext: dialer.DialContext}
		ps.clients = append(ps.clients, tr.CloseIdleConnections)
		u := "http://" + addr + "/_groupcache/" + url.PathEscape(peerCostGroup) + "/" + url.PathEscape(key)
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			return err
		}
		resp, err := (&http.Client{Transport: tr}).Do(req)
		if err != nil {
			return err
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		switch {
		case err != nil:
			return err
		case resp.StatusCode != http.StatusOK:
			return fmt.Errorf("%s: %s", resp.Status, body)
		}
		if err := proto.Unmarshal(body, protoadapt.MessageV2Of(res)); err != nil {
			return err
		}
	}
	if len(res.Value) != peerCostValue {
		return fmt.Errorf("got %d bytes, want %d", len(res.Value), peerCostValue)
	}
	return nil
}
