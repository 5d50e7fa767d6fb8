package bench

// Part 2 of the comparison: a remote Get over loopback, our gRPC transport against
// groupcache's HTTPPool serving the same groups from the same server process, with
// values of 100 B, 4 KiB, 256 KiB and 4 MiB and 1 or 64 concurrent callers.
//
//   - BenchmarkRemoteGet times the transport alone: the caller calls the peer's
//     groupcache.ProtoGetter (what PickPeer returned) as groupcache does, with a fresh
//     GetRequest and GetResponse per call; the server answers from its cache (16 keys per
//     size, loaded before the measurement).
//   - BenchmarkGroupGet times a whole two-peer miss: group.Get on the caller for a key
//     it has never seen and the server owns, so the caller's picker forwards it, the
//     server's group loads it (its getter copies the value from a buffer), and the value
//     comes back into the caller's sink. Keys are never repeated, so neither side hits
//     a cache; the caller's own getter fails, so a key loaded locally counts as an error.
//
// Both run the calls in a client helper process (children_test.go) and report its
// figures: ns/op and MB/s are wall time over all calls (throughput), allocs/op and B/op
// are the client process's heap allocations per call, p50-ns and p99-ns the latency of
// single calls, client-wakeups/op and server-wakeups/op how many times a thread of the
// client process and of the server process was put on a CPU per call, client-cpu-ns/op
// and server-cpu-ns/op how long the threads of each ran on a CPU per call
// (schedstat_test.go; only on Linux). The server serves every transport, but only one
// benchmark runs at a time, so what its threads do during a run is that run's. The
// HTTPPool client gets an http.Transport that keeps up to 128 idle connections per host:
// with the default (2) a 64-caller run would open and close connections on almost every
// call, which would measure the default, not HTTP.

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang/groupcache"
	pb "github.com/golang/groupcache/groupcachepb"
	k8s "github.com/groupcache-k8s/k8s"
	"google.golang.org/grpc"
)

// valueSizes are the value sizes of the remote benchmarks.
var valueSizes = []struct {
	name  string
	bytes int
}{{"100B", 100}, {"4KiB", 4 << 10}, {"256KiB", 256 << 10}, {"4MiB", 4 << 20}}

var (
	callerCounts = []int{1, 64}
	// httppool first: benchstat compares the other columns with the first.
	transportImpls = []string{"httppool", "grpc", "grpc-bdp"}
)

const (
	serverIP    = "127.0.0.2"
	clientIP    = "127.0.0.1"
	remoteGroup = "remote" // the server answers it from its cache
	missGroup   = "group"  // keys never repeat: both sides miss
	remoteKeys  = 16       // keys per size in remoteGroup
	// helperTimeout bounds one command to a helper process.
	helperTimeout = 5 * time.Minute
)

func BenchmarkRemoteGet(b *testing.B) { benchmarkRemote(b, "remote") }

func BenchmarkGroupGet(b *testing.B) { benchmarkRemote(b, "group") }

func benchmarkRemote(b *testing.B, kind string) {
	for _, size := range valueSizes {
		for _, callers := range callerCounts {
			for _, impl := range transportImpls {
				b.Run(fmt.Sprintf("size=%s/callers=%d/impl=%s", size.name, callers, impl), func(b *testing.B) {
					b.StopTimer() // only the measured command counts towards -benchtime
					c, err := clientHelper(impl)
					if err != nil {
						b.Fatal(err)
					}
					if f, err := c.call(helperTimeout, "warm %s %d %d", kind, size.bytes, callers); err != nil || len(f) == 0 || f[0] != "ok" {
						b.Fatalf("warming up: %q, %v", f, err)
					}
					pids := []int{c.pid(), serverHelper().pid()}
					before, schedErr := readSchedstats(pids...)
					b.StartTimer()
					f, err := c.call(helperTimeout, "run %s %d %d %d", kind, size.bytes, callers, b.N)
					b.StopTimer()
					if err != nil {
						b.Fatal(err)
					}
					after, err := readSchedstats(pids...)
					schedErr = errors.Join(schedErr, err)
					if len(f) < 7 || f[0] != "ok" {
						b.Fatalf("client helper answered %q", f)
					}
					elapsed, mallocs, bytes, p50, p99, errs := atoi(f[1]), atoi(f[2]), atoi(f[3]), atoi(f[4]), atoi(f[5]), atoi(f[6])
					if errs > 0 {
						b.Fatalf("%d of %d calls failed, the last with: %s", errs, b.N, strings.Join(f[7:], " "))
					}
					n := float64(b.N)
					b.SetBytes(int64(size.bytes))
					b.ReportAllocs()
					b.ReportMetric(float64(elapsed)/n, "ns/op")
					b.ReportMetric(float64(size.bytes)*n/(float64(elapsed)/1e9)/1e6, "MB/s")
					b.ReportMetric(float64(mallocs)/n, "allocs/op")
					b.ReportMetric(float64(bytes)/n, "B/op")
					b.ReportMetric(float64(p50), "p50-ns")
					b.ReportMetric(float64(p99), "p99-ns")
					if schedErr != nil {
						b.Logf("no thread wake-ups or CPU time: %v", schedErr)
						return
					}
					for i, process := range []string{"client", "server"} {
						// Includes the command's own round trip (reading it, timing the
						// calls, writing the answer), which vanishes over b.N calls. Not
						// unsigned: a thread that exits takes its counts with it.
						b.ReportMetric((float64(after[i].runs)-float64(before[i].runs))/n, process+"-wakeups/op")
						b.ReportMetric((float64(after[i].cpuNs)-float64(before[i].cpuNs))/n, process+"-cpu-ns/op")
					}
				})
			}
		}
	}
}

// payload is the value bytes the server's getter hands out: a value of size n is
// payload[:n].
var payload = func() []byte {
	p := make([]byte, 4<<20)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range p {
		p[i] = byte(r.Uint32())
	}
	return p
}()

// valueSize reads the value size from a key "SIZE/...".
func valueSize(key string) (int, error) {
	s, _, _ := strings.Cut(key, "/")
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 || n > len(payload) {
		return 0, fmt.Errorf("key %q does not start with a value size", key)
	}
	return n, nil
}

// serverMain is the server helper: the same groups served over our gRPC transport and
// over HTTPPool. It prints "ready GRPC_PORT HTTP_URL" and serves until stdin closes.
func serverMain() error {
	getter := groupcache.GetterFunc(func(_ context.Context, key string, dest groupcache.Sink) error {
		n, err := valueSize(key)
		if err != nil {
			return err
		}
		return dest.SetBytes(payload[:n])
	})
	groupcache.NewGroup(remoteGroup, 1<<30, getter)
	groupcache.NewGroup(missGroup, 256<<20, getter)
	groupcache.NewGroup(peekGroup, 1<<20, getter) // only peeked (peekmiss_test.go): never loaded here

	lis, err := net.Listen("tcp4", net.JoinHostPort(serverIP, "0"))
	if err != nil {
		return err
	}
	httpURL := "http://" + lis.Addr().String()
	pool := groupcache.NewHTTPPoolOpts(httpURL, nil) // this process's groups use it: all keys are local
	pool.Set(httpURL)
	hs := &http.Server{Handler: pool}
	go hs.Serve(lis)
	defer hs.Close()

	// Our side: a PeersManager of a Service whose only endpoint is this process,
	// serving on its own gRPC server, as in a pod. The port is the one every peer of the
	// Service uses, so the client must know it: it is printed.
	// grpc-bdp gets a manager of its own, with the options of bdp_test.go.
	var ports [2]int
	for i, opts := range [][]k8s.Option{nil, bdpOptions()} {
		m, port, err := startServerManager(opts...)
		if err != nil {
			return err
		}
		defer m.Close()
		ports[i] = port
	}

	fmt.Printf("ready %d %d %s\n", ports[0], ports[1], httpURL)
	_, err = io.Copy(io.Discard, os.Stdin) // no commands: serve until stdin closes
	return err
}

// startServerManager starts a PeersManager serving on serverIP and a free port.
func startServerManager(opts ...k8s.Option) (*benchManager, int, error) {
	var err error
	for range 5 {
		var port int
		if port, err = freePort(serverIP); err != nil {
			return nil, 0, err
		}
		self := net.JoinHostPort(serverIP, strconv.Itoa(port))
		opts := append([]k8s.Option{k8s.WithoutPeerPickerRegistration(), quietLogs}, opts...)
		var m *benchManager
		if m, err = newBenchManager([]string{serverIP}, port, self, opts...); err == nil {
			return m, port, nil
		}
	}
	return nil, 0, err
}

// remoteClient is a client helper's view of the server through one transport.
type remoteClient struct {
	picker groupcache.PeerPicker
	server groupcache.ProtoGetter // the server's getter, from picker
	group  *groupcache.Group      // missGroup, routed by picker
	close  func()
	warm   map[string]bool // KIND SIZE CALLERS already warmed up
	runs   int             // commands so far
}

// newRemoteClient sets up the caller side of impl ("grpc" or "httppool") on clientIP.
func newRemoteClient(impl, serverPort, serverHTTP string) (*remoteClient, error) {
	c := &remoteClient{warm: make(map[string]bool)}
	switch impl {
	case "grpc", "grpc-bdp":
		var opts []k8s.Option
		if impl == "grpc-bdp" {
			opts = bdpOptions()
		}
		port, err := strconv.Atoi(serverPort)
		if err != nil {
			return nil, err
		}
		// A Service of two pods, this one and the server. This process only calls: its
		// own GroupCache service goes on a gRPC server that is never started. The
		// manager registers itself with groupcache, as it does by default. Nobody peeks
		// this pod, so its Close need not drain (by default it would, for longer than
		// the helper is given to exit).
		srv := grpc.NewServer()
		m, err := newBenchManager([]string{clientIP, serverIP}, port, net.JoinHostPort(clientIP, serverPort),
			append(opts, k8s.WithGRPCServer(srv), k8s.WithHandoff(k8s.Handoff{Drain: time.Millisecond}), quietLogs)...)
		if err != nil {
			return nil, err
		}
		c.picker, c.close = m, func() { m.Close(); srv.Stop() }
	case "httppool":
		self := "http://" + clientIP + ":1" // names this process in the ring; never dialled
		pool := groupcache.NewHTTPPoolOpts(self, nil)
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConnsPerHost = 2 * maxCallers
		pool.Transport = func(context.Context) http.RoundTripper { return tr }
		pool.Set(self, serverHTTP)
		c.picker, c.close = pool, tr.CloseIdleConnections
	default:
		return nil, fmt.Errorf("unknown transport %q", impl)
	}
	for i := 0; c.server == nil; i++ {
		c.server, _ = c.picker.PickPeer("probe:" + strconv.Itoa(i))
	}
	c.group = groupcache.NewGroup(missGroup, 64<<20, groupcache.GetterFunc(
		func(context.Context, string, groupcache.Sink) error {
			return errors.New("the caller loaded a key itself: the peer call failed")
		}))
	return c, nil
}

// command runs one command and returns the answer line:
//
//	warm KIND SIZE CALLERS   → ok
//	run KIND SIZE CALLERS N  → ok ELAPSED_NS MALLOCS BYTES P50_NS P99_NS ERRORS [LAST ERROR]
//
// KIND is remote or group. warm makes a few calls, once per KIND SIZE CALLERS: it opens
// the connections (64 callers need 64 HTTP connections) and fills the server's cache.
func (c *remoteClient) command(line string) string {
	f := strings.Fields(line)
	if len(f) < 4 || (f[0] == "run") != (len(f) == 5) {
		return fmt.Sprintf("error bad command %q", line)
	}
	kind, size, callers := f[1], atoi(f[2]), atoi(f[3])
	var call func(keys []string) func(i int) error
	var keys func(n int, prefix string) []string
	ctx := context.Background()
	switch kind {
	case "remote":
		fixed := make([]string, remoteKeys)
		for j := range fixed {
			fixed[j] = fmt.Sprintf("%d/r%d", size, j)
		}
		keys = func(int, string) []string { return fixed }
		group := remoteGroup
		call = func(keys []string) func(i int) error {
			return func(i int) error {
				// What groupcache's getFromPeer does: a new request and response per call.
				req := &pb.GetRequest{Group: &group, Key: &keys[i%len(keys)]}
				res := &pb.GetResponse{}
				if err := c.server.Get(ctx, req, res); err != nil {
					return err
				}
				if len(res.Value) != size {
					return fmt.Errorf("got %d bytes, want %d", len(res.Value), size)
				}
				return nil
			}
		}
	case "group":
		keys = func(n int, prefix string) []string {
			out := make([]string, 0, n)
			for i := 0; len(out) < n; i++ {
				k := prefix + strconv.Itoa(i)
				if _, remote := c.picker.PickPeer(k); remote {
					out = append(out, k)
				}
			}
			return out
		}
		call = func(keys []string) func(i int) error {
			return func(i int) error {
				var value []byte
				if err := c.group.Get(ctx, keys[i], groupcache.AllocatingByteSliceSink(&value)); err != nil {
					return err
				}
				if len(value) != size {
					return fmt.Errorf("got %d bytes, want %d", len(value), size)
				}
				return nil
			}
		}
	default:
		return fmt.Sprintf("error unknown kind %q", kind)
	}

	var r loadResult
	c.runs++
	prefix := fmt.Sprintf("%d/%s%d-", size, f[0], c.runs) // keys of group never repeat
	switch f[0] {
	case "warm":
		if id := strings.Join(f[1:], " "); !c.warm[id] {
			c.warm[id] = true
			n := 2 * max(callers, remoteKeys)
			runLoad(&r, n, callers, call(keys(n, prefix)))
		}
		return "ok"
	case "run":
		runLoad(&r, atoi(f[4]), callers, call(keys(atoi(f[4]), prefix)))
	default:
		return fmt.Sprintf("error unknown command %q", f[0])
	}
	msg := ""
	if r.lastErr != nil {
		msg = r.lastErr.Error()
	}
	return fmt.Sprintf("ok %d %d %d %.0f %.0f %d %s", r.elapsed.Nanoseconds(), r.mallocs, r.bytes,
		r.latency.quantile(0.5), r.latency.quantile(0.99), r.errors, msg)
}

// answerCommands is the loop of a helper process: it prints "ready" and the fields of
// ready, then answers each line of stdin with command's result on one line, until stdin
// closes.
func answerCommands(command func(string) string, ready ...string) error {
	fmt.Println(strings.Join(append([]string{"ready"}, ready...), " "))
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		fmt.Println(command(sc.Text()))
	}
	return sc.Err()
}

// clientMain is a client helper: the caller side of the transport BENCH_IMPL. It
// prints "ready", then answers one line per command until stdin closes.
func clientMain() error {
	c, err := newRemoteClient(os.Getenv("BENCH_IMPL"), os.Getenv("BENCH_SERVER_PORT"), os.Getenv("BENCH_SERVER_HTTP"))
	if err != nil {
		return err
	}
	defer c.close()
	return answerCommands(c.command)
}
