package bench

// Peer sets and keys shared by the picker benchmarks, and the managers built from them.
// Peers are loopback addresses (127.a.b.c), so the gRPC connections a manager opens to
// them are refused by this machine's own kernel and never leave it.

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"strconv"
	"sync"
	"time"

	k8s "github.com/groupcache-k8s/k8s"
	"google.golang.org/grpc"
)

// pickerSizes are the cluster sizes the picker's goals are stated for.
var pickerSizes = []int{3, 10, 100, 1000}

const (
	// pickerPort is the port of every peer in the picker benchmarks. It is fixed, so
	// that the peer ids, and with them the rings, are the same on every run.
	pickerPort = 8080
	// pickerSelf is the IP of the pod the picker benchmarks run as.
	pickerSelf = "127.0.0.1"
)

// peerIPs returns n distinct loopback IPs, pickerSelf first, the same for the same n.
func peerIPs(n int) []string {
	r := rand.New(rand.NewPCG(uint64(n), 1))
	seen := map[string]bool{pickerSelf: true}
	ips := []string{pickerSelf}
	for len(ips) < n {
		ip := randomLoopback(r)
		if !seen[ip] {
			seen[ip] = true
			ips = append(ips, ip)
		}
	}
	return ips
}

func randomLoopback(r *rand.Rand) string {
	return fmt.Sprintf("127.%d.%d.%d", r.IntN(256), r.IntN(256), 1+r.IntN(254))
}

// peerIDs returns the ids "ip:port" of ips, as the manager and consistenthash name peers.
func peerIDs(ips []string) []string {
	ids := make([]string, len(ips))
	for i, ip := range ips {
		ids[i] = net.JoinHostPort(ip, strconv.Itoa(pickerPort))
	}
	return ids
}

// peerURLs returns the base URLs of ips, as HTTPPool names peers.
func peerURLs(ips []string) []string {
	urls := make([]string, len(ips))
	for i, id := range peerIDs(ips) {
		urls[i] = "http://" + id
	}
	return urls
}

// testKeys returns n cache keys of 20 to 32 bytes, the same on every call (the root's
// picker tests use the same shape).
func testKeys(n int) []string {
	kinds := []string{"cart", "profile", "avatar:v2", "settings:v11"}
	r := rand.New(rand.NewPCG(42, 42))
	keys := make([]string, n)
	for i := range keys {
		keys[i] = fmt.Sprintf("user:%010d:%s", r.Uint64N(1e10), kinds[i%len(kinds)])
	}
	return keys
}

// pickerPortGuard holds pickerPort on pickerSelf while picker managers exist. Nothing in
// this process serves on it (the managers register on a gRPC server that is never
// served), but holding it proves that no other program listens on the port on every
// address, so the managers' connection attempts to 127.a.b.c:8080 are all refused.
var pickerPortGuard struct {
	sync.Mutex
	lis   net.Listener
	users int
}

func holdPickerPort() error {
	pickerPortGuard.Lock()
	defer pickerPortGuard.Unlock()
	if pickerPortGuard.users == 0 {
		lis, err := net.Listen("tcp4", net.JoinHostPort(pickerSelf, strconv.Itoa(pickerPort)))
		if err != nil {
			return fmt.Errorf("port %d must be free on 127.0.0.1 (the picker benchmarks name every peer by it): %w", pickerPort, err)
		}
		pickerPortGuard.lis = lis
	}
	pickerPortGuard.users++
	return nil
}

func releasePickerPort() {
	pickerPortGuard.Lock()
	defer pickerPortGuard.Unlock()
	if pickerPortGuard.users--; pickerPortGuard.users == 0 {
		pickerPortGuard.lis.Close()
	}
}

// pickerManager is a PeersManager running as pickerSelf in a Service of ips. It does not
// register with groupcache (the HTTPPool of this process does) and serves on a gRPC
// server that is never started: the picker benchmarks only route keys.
type pickerManager struct {
	*benchManager
	srv     *grpc.Server
	rebuilt chan struct{} // receives when the manager logs a new ring
}

// rebuildLogger is a slog.Handler that signals on rebuilt each time the manager logs
// that its peers changed, which it does right after the new ring is in force. It lets a
// benchmark wait for a rebuild without spinning on Stats.
type rebuildLogger struct{ rebuilt chan struct{} }

func (h rebuildLogger) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelInfo }

func (h rebuildLogger) Handle(_ context.Context, r slog.Record) error {
	if r.Message == "groupcache peers changed" {
		select {
		case h.rebuilt <- struct{}{}:
		default:
		}
	}
	return nil
}

func (h rebuildLogger) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h rebuildLogger) WithGroup(string) slog.Handler      { return h }

// change sends frame on the manager's watch and returns once the manager has built and
// swapped in a new ring: when it logs so, or, should that message ever change, when
// Stats().RingRebuilds has moved (checked every 10 ms).
func (p *pickerManager) change(ctx context.Context, frame string) error {
	select {
	case <-p.rebuilt: // a stale signal
	default:
	}
	want := p.Stats().RingRebuilds + 1
	if err := p.api.push(ctx, frame); err != nil {
		return err
	}
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-p.rebuilt:
			if p.Stats().RingRebuilds >= want {
				return nil
			}
		case <-tick.C:
			if p.Stats().RingRebuilds >= want {
				return nil
			}
		case <-ctx.Done():
			return fmt.Errorf("the manager did not rebuild its ring: %w", ctx.Err())
		}
	}
}

func newPickerManager(ips []string) (*pickerManager, error) {
	if err := holdPickerPort(); err != nil {
		return nil, err
	}
	srv := grpc.NewServer()
	rebuilt := make(chan struct{}, 1)
	// The hand-off stays on (a rebuild records the past rings it peeks by), but Close
	// need not drain: nobody peeks a manager that never serves.
	m, err := newBenchManager(ips, pickerPort, net.JoinHostPort(pickerSelf, strconv.Itoa(pickerPort)),
		k8s.WithoutPeerPickerRegistration(), k8s.WithGRPCServer(srv), k8s.WithLogger(slog.New(rebuildLogger{rebuilt})),
		k8s.WithHandoff(k8s.Handoff{Drain: time.Millisecond}))
	if err != nil {
		srv.Stop()
		releasePickerPort()
		return nil, err
	}
	if got := len(m.Peers()); got != len(ips) {
		m.Close()
		srv.Stop()
		releasePickerPort()
		return nil, fmt.Errorf("manager has %d peers, want %d", got, len(ips))
	}
	return &pickerManager{benchManager: m, srv: srv, rebuilt: rebuilt}, nil
}

func (p *pickerManager) Close() error {
	err := p.benchManager.Close()
	p.srv.Stop()
	releasePickerPort()
	return err
}
