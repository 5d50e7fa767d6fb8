package bench

// The cost of a load outside membership changes: a Get of a key this pod owns and no
// cache holds, which runs the getter. Through a group made by PeersManager.NewGroup the
// load also passes the hand-off's checks (a peek only inside the window after a change
// of the ring) and, since the push, logs the key for the pusher (the root's group.go and
// keylog.go); through groupcache.NewGroup it is groupcache's own load, the reference.
//
// BenchmarkLocalLoad loads keys that the pod owns and nobody has loaded, each once, one
// at a time, through a group whose getter returns a 100-byte value at once. The pod is a
// helper process of its own per case (role localload, on 127.4.0.1), a PeersManager
// registered with groupcache, alone in its Service and ready from the first LIST: no
// change of the ring opens the hand-off's window (a pod that starts ready among others
// peeks their keys' previous owners for a window), so the loads are those of a pod
// between membership changes. The cases:
//
//   - impl=groupcache: a group made by groupcache.NewGroup, routed by the same manager.
//     The reference: benchstat compares the other column with it.
//   - impl=newgroup: a group made by the manager's NewGroup, with its defaults.
//
// Before the measurement the pod loads localLoadWarm keys, enough to fill the group's
// cache (localLoadCache) and the key log of a NewGroup group, so that every measured load
// also evicts, as in a pod that has run a while. The figures are the helper's, as in
// BenchmarkPeekMiss: ns/op is wall time per load, allocs/op and B/op the pod process's
// heap allocations per load, p50-ns and p99-ns single loads' latencies. A case fails
// unless every load ran the getter once and no load peeked.
//
// The report runs this benchmark of the baseline's code too (bench/cmd/report/baseline.go):
// it copies this file into the baseline's bench module before building its test binary.
// So the file uses only the library's API and helpers of this package that predate it
// (children_test.go, latency_test.go, remote_test.go), and its helper role is dispatched
// from init, not from TestMain, whose switch in the baseline does not know it.

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang/groupcache"
	k8s "github.com/groupcache-k8s/k8s"
)

// localLoadImpls are BenchmarkLocalLoad's cases, the reference first: benchstat compares
// the other column with the first.
var localLoadImpls = []string{"groupcache", "newgroup"}

const (
	localLoadRole      = "localload"
	localLoadGroup     = "local"
	localLoadValueSize = 100     // bytes of every value the getter returns
	localLoadCache     = 4 << 20 // the group's cacheBytes: about 35000 entries of a key and 100 bytes
	// localLoadWarm is how many keys a case loads before its first measurement: more
	// than the cache holds and than a NewGroup group's key log keeps (65536 keys).
	localLoadWarm = 100_000
)

// localLoadIP is the address of the helper's pod, the one pod of its Service.
const localLoadIP = "127.4.0.1"

func init() {
	// A helper process: see the file's comment for why not in TestMain.
	if os.Getenv("BENCH_ROLE") == localLoadRole {
		os.Exit(runHelper(localLoadMain))
	}
}

func BenchmarkLocalLoad(b *testing.B) {
	for _, impl := range localLoadImpls {
		b.Run("impl="+impl, func(b *testing.B) {
			b.StopTimer() // only the measured command counts towards -benchtime
			c, err := localLoadHelper(impl)
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
			r, err := parseLocalLoadRun(f)
			if err == nil {
				err = r.check(b.N)
			}
			if err != nil {
				b.Fatalf("impl=%s: %v", impl, err)
			}
			n := float64(b.N)
			b.ReportAllocs()
			b.ReportMetric(float64(r.elapsed)/n, "ns/op")
			b.ReportMetric(float64(r.mallocs)/n, "allocs/op")
			b.ReportMetric(float64(r.bytes)/n, "B/op")
			b.ReportMetric(float64(r.p50), "p50-ns")
			b.ReportMetric(float64(r.p99), "p99-ns")
		})
	}
}

// TestLocalLoadRunsTheGetter checks BenchmarkLocalLoad's setup on a few loads per case:
// every load runs the getter once, and none peeks.
func TestLocalLoadRunsTheGetter(t *testing.T) {
	if testing.Short() {
		t.Skip("starts helper processes")
	}
	const loads = 50
	for _, impl := range localLoadImpls {
		t.Run("impl="+impl, func(t *testing.T) {
			c, err := localLoadHelper(impl)
			if err != nil {
				t.Fatal(err)
			}
			f, err := c.call(time.Minute, "run %d", loads)
			if err != nil {
				t.Fatal(err)
			}
			r, err := parseLocalLoadRun(f)
			if err == nil {
				err = r.check(loads)
			}
			if err != nil {
				t.Error(err)
			}
		})
	}
}

// localLoadHelper returns the localload process of case impl, starting it if needed.
// stopHelpers stops it with the others.
func localLoadHelper(impl string) (*child, error) {
	helpers.Lock()
	defer helpers.Unlock()
	name := localLoadRole + "-" + impl
	if c := helpers.clients[name]; c != nil {
		return c, nil
	}
	c, _, err := startChild(name, localLoadRole, "BENCH_LOCAL_LOAD="+impl)
	if err != nil {
		return nil, err
	}
	if helpers.clients == nil {
		helpers.clients = make(map[string]*child)
	}
	helpers.clients[name] = c
	return c, nil
}

// localLoadRun is a localload helper's answer to run.
type localLoadRun struct {
	elapsed, mallocs, bytes, p50, p99 int
	errors                            int    // loads that failed
	lastErr                           string // the last failure
	getterCalls, peeks                int
}

// parseLocalLoadRun reads the fields of a run answer (see localPod.command).
func parseLocalLoadRun(f []string) (localLoadRun, error) {
	if len(f) < 9 || f[0] != "ok" {
		return localLoadRun{}, fmt.Errorf("localload helper answered %q", f)
	}
	return localLoadRun{elapsed: atoi(f[1]), mallocs: atoi(f[2]), bytes: atoi(f[3]), p50: atoi(f[4]), p99: atoi(f[5]),
		errors: atoi(f[6]), getterCalls: atoi(f[7]), peeks: atoi(f[8]), lastErr: strings.Join(f[9:], " ")}, nil
}

// check says what is wrong with a run of n loads: a failed load, a getter not called
// once a load, or a peek.
func (r localLoadRun) check(n int) error {
	switch {
	case r.errors > 0:
		return fmt.Errorf("%d of %d loads failed, the last with: %s", r.errors, n, r.lastErr)
	case r.getterCalls != n:
		return fmt.Errorf("%d loads called the getter %d times, want once each", n, r.getterCalls)
	case r.peeks != 0:
		return fmt.Errorf("%d loads peeked %d times, want none outside membership changes", n, r.peeks)
	}
	return nil
}

// localPod is the pod of a localload helper: a registered PeersManager and its group.
type localPod struct {
	m       *k8s.PeersManager
	group   *groupcache.Group
	getter  atomic.Int64 // calls of the group's getter
	warmed  bool
	runs    int // commands so far
	closeFn func()
}

// newLocalPod starts the pod of case impl.
func newLocalPod(impl string) (*localPod, error) {
	p := &localPod{}
	getter := groupcache.GetterFunc(func(_ context.Context, _ string, dest groupcache.Sink) error {
		p.getter.Add(1)
		return dest.SetBytes(payload[:localLoadValueSize])
	})
	var err error
	for range 5 { // a port free on the pod's address, taken by someone else meanwhile: try another
		var port int
		if port, err = freePort(localLoadIP); err != nil {
			return nil, err
		}
		api := newBenchAPI([]string{localLoadIP})
		self := net.JoinHostPort(localLoadIP, strconv.Itoa(port))
		p.m, err = k8s.NewPeersManager(context.Background(), api.Clientset(), benchService, benchNamespace, port, self,
			benchWatchOptions(k8s.WithLogger(slog.New(slog.DiscardHandler)))...)
		if err == nil {
			p.closeFn = func() { p.m.Close(); api.Close() }
			break
		}
		api.Close()
	}
	if err != nil {
		return nil, err
	}
	switch impl {
	case "groupcache":
		p.group = groupcache.NewGroup(localLoadGroup, localLoadCache, getter)
	case "newgroup":
		p.group = p.m.NewGroup(localLoadGroup, localLoadCache, getter)
	default:
		p.closeFn()
		return nil, fmt.Errorf("unknown case %q", impl)
	}
	return p, nil
}

// peeks is how many peeks the pod has made.
func (p *localPod) peeks() int64 {
	s := p.m.Stats()
	return s.PeekHits + s.PeekMisses + s.PeekErrors
}

// keys returns n keys that the pod owns, named prefix and a number.
func (p *localPod) keys(n int, prefix string) []string {
	out := make([]string, 0, n)
	for i := 0; len(out) < n; i++ {
		k := prefix + strconv.Itoa(i)
		if _, remote := p.m.PickPeer(k); !remote {
			out = append(out, k)
		}
	}
	return out
}

func (p *localPod) load(key string) error {
	var value []byte
	if err := p.group.Get(context.Background(), key, groupcache.AllocatingByteSliceSink(&value)); err != nil {
		return err
	}
	if len(value) != localLoadValueSize {
		return fmt.Errorf("got %d bytes, want %d", len(value), localLoadValueSize)
	}
	return nil
}

// command runs one command and returns the answer line:
//
//	warm   → ok
//	run N  → ok ELAPSED_NS MALLOCS BYTES P50_NS P99_NS ERRORS GETTER_CALLS PEEKS [LAST ERROR]
//
// Both load keys that the pod owns and has never loaded, one at a time; warm loads
// localLoadWarm of them, once.
func (p *localPod) command(line string) string {
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
			if runLoad(&r, localLoadWarm, 1, load(p.keys(localLoadWarm, prefix))); r.errors > 0 {
				return fmt.Sprintf("error %d of %d loads failed, the last with: %v", r.errors, localLoadWarm, r.lastErr)
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
	calls, peeks := p.getter.Load(), p.peeks()
	runLoad(&r, n, 1, load(keys))
	msg := ""
	if r.lastErr != nil {
		msg = r.lastErr.Error()
	}
	return fmt.Sprintf("ok %d %d %d %.0f %.0f %d %d %d %s", r.elapsed.Nanoseconds(), r.mallocs, r.bytes,
		r.latency.quantile(0.5), r.latency.quantile(0.99), r.errors, p.getter.Load()-calls, p.peeks()-peeks, msg)
}

// localLoadMain is a localload helper: the pod of BenchmarkLocalLoad's case
// BENCH_LOCAL_LOAD. It prints "ready", then answers one line per command until stdin
// closes.
func localLoadMain() error {
	p, err := newLocalPod(os.Getenv("BENCH_LOCAL_LOAD"))
	if err != nil {
		return err
	}
	defer p.closeFn()
	return answerCommands(p.command)
}
