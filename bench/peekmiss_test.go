package bench

// The cost of a peek miss: what the warm hand-off (the root's handoff.go) adds to the
// load of a key that no pod holds. A pod that owns a key whose owner changed within the
// hand-off window peeks the key's previous owner before calling the getter; when that
// owner does not hold the key either, the peek is pure cost.
//
// BenchmarkPeekMiss loads keys that the pod owns and nobody has loaded, each once,
// through a group made by PeersManager.NewGroup whose getter returns a 100-byte value at
// once. The pod is a helper process of its own per case (role handoff, on 127.0.0.1).
// Its Service's EndpointSlices list it not ready and the server helper (127.0.0.2, the
// same port) ready, so its own ring holds both pods and the other pods' ring only the
// server: every key it owns has a previous owner, the server, which holds none of them
// (it answers the peek with NotFound from its caches). The cases:
//
//   - impl=without-handoff: the hand-off off (Handoff{Off: true}); the getter alone. The
//     baseline.
//   - impl=no-window: the hand-off on, outside its window: the pod has turned ready (a
//     watch event) and the window has passed since; no peek.
//   - impl=window: the hand-off on with its defaults, inside the window (the other pods
//     do not route to the pod yet): one peek of the server, which misses, then the getter.
//
// The figures are the helper's, as in the remote benchmarks: ns/op is wall time per
// load, allocs/op and B/op the pod process's heap allocations per load, p50-ns and p99-ns
// single loads' latencies, and peeks/op the pod's peeks per load (its Stats). A case
// fails unless impl=window peeks exactly once a load, and misses, and the others never
// peek.

import (
	"context"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang/groupcache"
	k8s "github.com/groupcache-k8s/k8s"
	"google.golang.org/grpc"
	discoveryv1 "k8s.io/api/discovery/v1"
)

// peekImpls are BenchmarkPeekMiss's cases, the baseline first: benchstat compares the
// other columns with the first.
var peekImpls = []string{"without-handoff", "no-window", "window"}

const (
	peekGroup     = "peek" // the pod loads it; the server only answers peeks of it
	peekValueSize = 100    // bytes of every value the pod's getter returns
	// peekWarmLoads are loaded before a case's first measurement: the first peek opens
	// the connection to the server.
	peekWarmLoads = 100
	// expiredWindow is the hand-off window of impl=no-window: short, so that the case
	// can wait it out before it measures.
	expiredWindow = 100 * time.Millisecond
)

func BenchmarkPeekMiss(b *testing.B) {
	for _, impl := range peekImpls {
		b.Run("impl="+impl, func(b *testing.B) {
			b.StopTimer() // only the measured command counts towards -benchtime
			c, err := handoffHelper(impl)
			if err != nil {
				b.Fatal(err)
			}
			if f, err := c.call(helperTimeout, "warm"); err != nil || len(f) == 0 || f[0] != "ok" {
				b.Fatalf("warming up: %q, %v", f, err)
			}
			b.StartTimer()
			f, err := c.call(helperTimeout, "run %d", b.N)
			b.StopTimer()
			if err != nil {
				b.Fatal(err)
			}
			r, err := parsePeekRun(f)
			if err == nil {
				err = r.check(impl, b.N)
			}
			if err != nil {
				b.Fatal(err)
			}
			n := float64(b.N)
			b.ReportAllocs()
			b.ReportMetric(float64(r.elapsed)/n, "ns/op")
			b.ReportMetric(float64(r.mallocs)/n, "allocs/op")
			b.ReportMetric(float64(r.bytes)/n, "B/op")
			b.ReportMetric(float64(r.p50), "p50-ns")
			b.ReportMetric(float64(r.p99), "p99-ns")
			b.ReportMetric(float64(r.hits+r.misses+r.failed)/n, "peeks/op")
		})
	}
}

// TestPeekMissPeeks checks BenchmarkPeekMiss's setup on a few loads per case: inside the
// window every load peeks the server once and misses; otherwise no load peeks.
func TestPeekMissPeeks(t *testing.T) {
	if testing.Short() {
		t.Skip("starts helper processes")
	}
	const loads = 50
	for _, impl := range peekImpls {
		t.Run("impl="+impl, func(t *testing.T) {
			c, err := handoffHelper(impl)
			if err != nil {
				t.Fatal(err)
			}
			f, err := c.call(time.Minute, "run %d", loads)
			if err != nil {
				t.Fatal(err)
			}
			r, err := parsePeekRun(f)
			if err == nil {
				err = r.check(impl, loads)
			}
			if err != nil {
				t.Error(err)
			}
		})
	}
}

// peekRun is a handoff helper's answer to run: the load loop's figures and the peeks the
// pod made meanwhile.
type peekRun struct {
	elapsed, mallocs, bytes, p50, p99 int
	errors                            int    // loads that failed
	lastErr                           string // the last failure
	hits, misses, failed              int    // peeks: Stats' PeekHits, PeekMisses, PeekErrors
}

// parsePeekRun reads the fields of a run answer (see peekPod.command).
func parsePeekRun(f []string) (peekRun, error) {
	if len(f) < 10 || f[0] != "ok" {
		return peekRun{}, fmt.Errorf("handoff helper answered %q", f)
	}
	return peekRun{elapsed: atoi(f[1]), mallocs: atoi(f[2]), bytes: atoi(f[3]), p50: atoi(f[4]), p99: atoi(f[5]),
		errors: atoi(f[6]), hits: atoi(f[7]), misses: atoi(f[8]), failed: atoi(f[9]), lastErr: strings.Join(f[10:], " ")}, nil
}

// check says what is wrong with a run of n loads of case impl: a failed load, or peeks
// other than one miss per load inside the window and none outside it.
func (r peekRun) check(impl string, n int) error {
	if r.errors > 0 {
		return fmt.Errorf("impl=%s: %d of %d loads failed, the last with: %s", impl, r.errors, n, r.lastErr)
	}
	want := 0
	if impl == "window" {
		want = n
	}
	if r.misses != want || r.hits != 0 || r.failed != 0 {
		return fmt.Errorf("impl=%s: %d loads made %d peek misses, %d peek hits and %d failed peeks; want %d misses and nothing else",
			impl, n, r.misses, r.hits, r.failed, want)
	}
	return nil
}

// peekPod is the pod of a handoff helper: a PeersManager on clientIP, registered with
// groupcache, and its group.
type peekPod struct {
	m      *benchManager
	srv    *grpc.Server
	group  *groupcache.Group
	warmed bool
	runs   int // commands so far
}

// newPeekPod starts the pod of case impl, whose Service's other pod is the server on
// serverIP:serverPort.
func newPeekPod(impl, serverPort string) (*peekPod, error) {
	port, err := strconv.Atoi(serverPort)
	if err != nil {
		return nil, err
	}
	var opts []k8s.Option
	switch impl {
	case "without-handoff":
		opts = append(opts, k8s.WithHandoff(k8s.Handoff{Off: true}))
	case "no-window":
		// Once ready, the pod would drain for the default 15 s when it closes; the
		// server never asks it anything, so a short drain loses nothing.
		opts = append(opts, k8s.WithHandoff(k8s.Handoff{Window: expiredWindow, Drain: time.Millisecond}))
	case "window": // the defaults
	default:
		return nil, fmt.Errorf("unknown case %q", impl)
	}
	// This process only loads and peeks: its own GroupCache service goes on a gRPC server
	// that is never started.
	srv := grpc.NewServer()
	slice := withNotReady(endpointSlice(0, []string{clientIP, serverIP}, "1"), clientIP)
	m, err := newBenchManagerOf([]discoveryv1.EndpointSlice{slice}, port, net.JoinHostPort(clientIP, serverPort),
		append(opts, k8s.WithGRPCServer(srv), quietLogs)...)
	if err != nil {
		srv.Stop()
		return nil, err
	}
	p := &peekPod{m: m, srv: srv}
	p.group = m.NewGroup(peekGroup, 64<<20, groupcache.GetterFunc(func(_ context.Context, _ string, dest groupcache.Sink) error {
		return dest.SetBytes(payload[:peekValueSize])
	}))
	if impl == "no-window" {
		if err := p.leaveWindow(); err != nil {
			p.close()
			return nil, err
		}
	}
	return p, nil
}

func (p *peekPod) close() {
	p.m.Close()
	p.srv.Stop()
}

// peeks is how many peeks the pod has made.
func (p *peekPod) peeks() int64 {
	s := p.m.Stats()
	return s.PeekHits + s.PeekMisses + s.PeekErrors
}

// leaveWindow turns the pod ready, as the EndpointSlice controller does once its
// readiness probe passes, and waits until the window has passed since: until a load no
// longer peeks.
func (p *peekPod) leaveWindow() error {
	frame := modifiedFrame(0, []string{clientIP, serverIP}, 2)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := p.m.api.push(ctx, frame); err != nil {
		return err
	}
	for i := 0; ; i++ {
		select {
		case <-ctx.Done():
			return fmt.Errorf("loads still peek after the pod turned ready: %w", ctx.Err())
		case <-time.After(2 * expiredWindow):
		}
		before := p.peeks()
		if err := p.load(p.keys(1, fmt.Sprintf("probe%d-", i))[0]); err != nil {
			return err
		}
		if p.peeks() == before {
			return nil
		}
	}
}

// keys returns n keys that the pod owns, named prefix and a number.
func (p *peekPod) keys(n int, prefix string) []string {
	out := make([]string, 0, n)
	for i := 0; len(out) < n; i++ {
		k := prefix + strconv.Itoa(i)
		if _, remote := p.m.PickPeer(k); !remote {
			out = append(out, k)
		}
	}
	return out
}

func (p *peekPod) load(key string) error {
	var value []byte
	if err := p.group.Get(context.Background(), key, groupcache.AllocatingByteSliceSink(&value)); err != nil {
		return err
	}
	if len(value) != peekValueSize {
		return fmt.Errorf("got %d bytes, want %d", len(value), peekValueSize)
	}
	return nil
}

// command runs one command and returns the answer line:
//
//	warm   → ok
//	run N  → ok ELAPSED_NS MALLOCS BYTES P50_NS P99_NS ERRORS PEEK_HITS PEEK_MISSES PEEK_ERRORS [LAST ERROR]
//
// Both load keys that the pod owns and has never loaded, one at a time; warm loads a few,
// once (the first opens the connection to the server).
func (p *peekPod) command(line string) string {
	f := strings.Fields(line)
	if len(f) == 0 {
		return "error empty command"
	}
	p.runs++
	prefix := fmt.Sprintf("%s%d-", f[0], p.runs) // keys never repeat
	load := func(keys []string) func(i int) error { return func(i int) error { return p.load(keys[i]) } }
	var r loadResult
	switch {
	case len(f) == 1 && f[0] == "warm":
		if !p.warmed {
			p.warmed = true
			if runLoad(&r, peekWarmLoads, 1, load(p.keys(peekWarmLoads, prefix))); r.errors > 0 {
				return fmt.Sprintf("error %d of %d loads failed, the last with: %v", r.errors, peekWarmLoads, r.lastErr)
			}
		}
		return "ok"
	case len(f) == 2 && f[0] == "run":
	default:
		return fmt.Sprintf("error bad command %q", line)
	}
	n, err := strconv.Atoi(f[1])
	if err != nil || n < 1 {
		return fmt.Sprintf("error bad count %q", f[1])
	}
	keys := p.keys(n, prefix)
	before := p.m.Stats()
	runLoad(&r, n, 1, load(keys))
	after := p.m.Stats()
	msg := ""
	if r.lastErr != nil {
		msg = r.lastErr.Error()
	}
	return fmt.Sprintf("ok %d %d %d %.0f %.0f %d %d %d %d %s", r.elapsed.Nanoseconds(), r.mallocs, r.bytes,
		r.latency.quantile(0.5), r.latency.quantile(0.99), r.errors,
		after.PeekHits-before.PeekHits, after.PeekMisses-before.PeekMisses, after.PeekErrors-before.PeekErrors, msg)
}

// handoffMain is a handoff helper: the pod of BenchmarkPeekMiss's case BENCH_HANDOFF. It
// prints "ready", then answers one line per command until stdin closes.
func handoffMain() error {
	p, err := newPeekPod(os.Getenv("BENCH_HANDOFF"), os.Getenv("BENCH_SERVER_PORT"))
	if err != nil {
		return err
	}
	defer p.close()
	return answerCommands(p.command)
}
