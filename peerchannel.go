package k8s

// The peer channel: one gRPC ClientConn for every peer of a manager, with one subchannel
// (one HTTP/2 connection) per peer, routed to by the peer that PickPeer chose.

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"

	"google.golang.org/grpc"
	"google.golang.org/grpc/balancer"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/resolver"
	"google.golang.org/grpc/status"
)

// A ClientConn per peer costs its serializers and resolver and balancer goroutines, and
// their memory, for every peer even while idle, before any call. The channel pays those
// once (BENCHMARKS.md, "The cost of N peers", measures what a peer costs now). Each peer is a subchannel of it that costs nothing until the
// first call to that peer, which opens its connection (a TCP and HTTP/2 handshake, one
// round trip plus the TLS handshake with TLS); the connection then costs what grpc's
// HTTP/2 transport costs (a reader and a writer goroutine, its buffers) until the peer's
// server closes it after idleConnTimeout without calls, and the next call opens it again.
// grpc's ring-hash balancer routes the same way, by a value of the call's context.

// peerBalancerName is the load-balancing policy of the channel. It is registered with
// grpc once, in init; it only routes the calls of this package, which carry their peer in
// their context.
const peerBalancerName = "groupcache_k8s_peer"

func init() { balancer.Register(peerBalancerBuilder{}) }

// peerServiceConfig selects the policy; it is given after the user's dial options so
// that it always wins: without it, calls would have no route.
const peerServiceConfig = `{"loadBalancingConfig":[{"` + peerBalancerName + `":{}}]}`

// peerTarget is the channel's target. It is also its authority, unless the user gave one
// (grpc.WithAuthority, or the ServerName of a tls.Config): then the TLS handshake of every
// peer verifies that name, as with a ClientConn per peer. Otherwise each peer's own
// "host:port" is its authority, and TLS verifies the peer's IP.
const peerTarget = "groupcache-peers"

// peerChannel is the ClientConn of all of a manager's peers.
type peerChannel struct {
	cc   *grpc.ClientConn
	from netip.Addr // this pod's IP, the source of its connections to peers; zero: the system's choice

	mu       sync.Mutex
	received map[string]*byteCount // by peer address: the bytes read from its connections
}

// byteCount is the count of bytes read from one peer's connections, kept while a client
// of the peer uses it.
type byteCount struct {
	n       atomic.Int64
	clients int
}

// newPeerChannel creates the channel with dialOpts (from clientDialOptions). It opens no
// connection. Its connections count the bytes they read (see dial), unless dialOpts
// bring a dialer of their own.
func newPeerChannel(dialOpts []grpc.DialOption) (*peerChannel, error) {
	c := &peerChannel{received: make(map[string]*byteCount)}
	opts := append([]grpc.DialOption{grpc.WithContextDialer(c.dial)}, dialOpts...)
	opts = append(opts,
		grpc.WithDefaultServiceConfig(peerServiceConfig),
		// The channel never goes idle as a whole: idle peers' connections are closed
		// one by one, by their servers.
		grpc.WithIdleTimeout(0))
	// The target names no address; the balancer ignores what the resolver returns.
	cc, err := grpc.NewClient("passthrough:///"+peerTarget, opts...)
	if err != nil {
		return nil, fmt.Errorf("groupcache-k8s: creating the gRPC client of the peers: %w", err)
	}
	c.cc = cc
	return c, nil
}

// dial opens a TCP connection to addr, as grpc's own dialer does (pods are dialled
// directly, never through an HTTP proxy), whose reads are counted in receivedFrom(addr):
// bytes coming in show the liveness check (liveness.go) that a peer busy sending large
// values is alive, even while its answer to a ping waits behind them.
//
// A connection goes out from this pod's own IP (from), which is how a peer's server tells
// that a push comes from a peer (push.go); on a machine without that address (a test's
// made-up self) the system chooses.
func (c *peerChannel) dial(ctx context.Context, addr string) (net.Conn, error) {
	var d net.Dialer
	if c.from.IsValid() {
		d.LocalAddr = &net.TCPAddr{IP: c.from.AsSlice()}
	}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if errors.Is(err, syscall.EADDRNOTAVAIL) {
		conn, err = (&net.Dialer{}).DialContext(ctx, "tcp", addr)
	}
	if err != nil {
		return nil, err
	}
	return newCountingConn(conn, c.counter(addr)), nil
}

// receivedFrom returns the count of bytes read from the connections to addr, for a
// client of addr, which calls forget when it is closed. Clients of the same address (a
// peer that left and came back while its old client was still open) share it.
func (c *peerChannel) receivedFrom(addr string) *atomic.Int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	b := c.received[addr]
	if b == nil {
		b = &byteCount{}
		c.received[addr] = b
	}
	b.clients++
	return &b.n
}

// forget ends a client's use of the count of addr; the last one drops it.
func (c *peerChannel) forget(addr string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if b := c.received[addr]; b != nil {
		if b.clients--; b.clients <= 0 {
			delete(c.received, addr)
		}
	}
}

// counter returns the count a new connection to addr adds to: its clients', or one of
// its own if no client of addr is open.
func (c *peerChannel) counter(addr string) *atomic.Int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	if b := c.received[addr]; b != nil {
		return &b.n
	}
	return new(atomic.Int64)
}

// invoke calls method on the peer of pc.
func (c *peerChannel) invoke(ctx context.Context, pc *peerConn, method string, in, out any, opts ...grpc.CallOption) error {
	return c.cc.Invoke(context.WithValue(ctx, peerConnKey{}, pc), method, in, out, opts...)
}

// Close closes every connection of the channel. Calls in flight and later calls fail.
func (c *peerChannel) Close() error { return c.cc.Close() }

// peerConnKey is the context key of the peerConn a call goes to.
type peerConnKey struct{}

// peerConn is one peer's subchannel. Its SubConn is made on the first call and after grpc
// shut the previous one down.
type peerConn struct {
	addr string

	mu     sync.Mutex
	sc     balancer.SubConn // nil until the first call
	state  connectivity.State
	err    error // why the last connection attempt failed
	closed bool
}

// newPeerConn returns the subchannel of the peer at addr ("host:port", IPv6 bracketed)
// in a channel. It is not connected until the first call.
func newPeerConn(addr string) *peerConn {
	return &peerConn{addr: addr, state: connectivity.Idle}
}

// close shuts the subchannel down: calls in flight fail, later calls fail with
// codes.Canceled.
func (pc *peerConn) close() {
	pc.mu.Lock()
	sc := pc.sc
	pc.closed, pc.sc, pc.state = true, nil, connectivity.Shutdown
	pc.mu.Unlock()
	if sc != nil {
		sc.Shutdown()
	}
}

// resetIfFailed shuts pc's SubConn down if its last connection attempt failed, so that
// the next call makes a new one and connects at once, instead of failing until grpc's
// reconnect backoff (1 s growing to 2 minutes) ends. The liveness check calls it for a
// peer that answers again after refusing connections (a restarted container).
func (pc *peerConn) resetIfFailed() {
	pc.mu.Lock()
	sc := pc.sc
	if pc.state != connectivity.TransientFailure || sc == nil {
		pc.mu.Unlock()
		return
	}
	pc.sc, pc.state = nil, connectivity.Idle
	pc.mu.Unlock()
	sc.Shutdown()
}

// connState is the state of pc's connection: Idle before the first call and after its
// server closed it, Shutdown after close.
func (pc *peerConn) connState() connectivity.State {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	return pc.state
}

type peerBalancerBuilder struct{}

func (peerBalancerBuilder) Name() string { return peerBalancerName }

func (peerBalancerBuilder) Build(cc balancer.ClientConn, opts balancer.BuildOptions) balancer.Balancer {
	return &peerBalancer{cc: cc, peerAuthority: opts.Authority == peerTarget}
}

// peerBalancer makes the subchannels of the peers that calls go to. grpc builds one per
// channel, once: the channel never goes idle and has one service config. grpc calls its
// methods, and the subchannels' state listeners, from one goroutine; Pick runs on the
// callers' goroutines.
type peerBalancer struct {
	cc            balancer.ClientConn
	peerAuthority bool // each peer's address is its authority (see peerTarget)

	mu     sync.Mutex
	closed bool
}

// UpdateClientConnState publishes the picker. The resolver's addresses are not used:
// every call names its peer.
func (b *peerBalancer) UpdateClientConnState(balancer.ClientConnState) error {
	b.publish()
	return nil
}

func (b *peerBalancer) ResolverError(error) {}

func (b *peerBalancer) UpdateSubConnState(balancer.SubConn, balancer.SubConnState) {}

func (b *peerBalancer) ExitIdle() {}

// Close is called when the ClientConn closes; grpc shuts the subchannels down.
func (b *peerBalancer) Close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
}

// publish hands grpc a new picker, which wakes the calls that wait for a subchannel's
// state to change.
func (b *peerBalancer) publish() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.closed {
		b.cc.UpdateState(balancer.State{ConnectivityState: connectivity.Ready, Picker: &peerPicker{b: b}})
	}
}

// listen records a state change of pc's SubConn sc.
func (b *peerBalancer) listen(pc *peerConn, sc balancer.SubConn, s balancer.SubConnState) {
	pc.mu.Lock()
	if pc.sc != sc {
		closed := pc.closed
		pc.mu.Unlock()
		if closed && s.ConnectivityState == connectivity.Shutdown {
			b.publish() // wakes the calls that waited for it to connect: they fail, pc is closed
		}
		return // a SubConn pc no longer uses
	}
	pc.state = s.ConnectivityState
	switch s.ConnectivityState {
	case connectivity.TransientFailure:
		pc.err = s.ConnectionError
	case connectivity.Shutdown:
		pc.sc, pc.state = nil, connectivity.Idle
	}
	pc.mu.Unlock()
	b.publish()
}

// peerPicker routes a call to the subchannel of the peer in its context.
type peerPicker struct{ b *peerBalancer }

// Pick returns pc's SubConn once it is ready. It starts connecting an idle one and fails
// at once when the last attempt failed, so that groupcache loads the key locally instead
// of waiting; grpc waits for the next picker otherwise.
func (p *peerPicker) Pick(info balancer.PickInfo) (balancer.PickResult, error) {
	pc := info.Ctx.Value(peerConnKey{}).(*peerConn) // invoke puts it there
	pc.mu.Lock()
	defer pc.mu.Unlock()
	if pc.closed {
		return balancer.PickResult{}, status.Errorf(codes.Canceled, "groupcache-k8s: the client of peer %s is closed", pc.addr)
	}
	if pc.sc == nil {
		addr := resolver.Address{Addr: pc.addr}
		if p.b.peerAuthority {
			addr.ServerName = pc.addr
		}
		var sc balancer.SubConn
		//lint:ignore SA1019 grpc v1.85.0 has no replacement; the notice only warns that SubConns will take one address, and this passes one
		sc, err := p.b.cc.NewSubConn([]resolver.Address{addr}, balancer.NewSubConnOptions{
			StateListener: func(s balancer.SubConnState) { p.b.listen(pc, sc, s) },
		})
		if err != nil {
			return balancer.PickResult{}, status.Errorf(codes.Unavailable, "groupcache-k8s: connecting to peer %s: %v", pc.addr, err)
		}
		pc.sc, pc.state = sc, connectivity.Idle
	}
	switch pc.state {
	case connectivity.Ready:
		return balancer.PickResult{SubConn: pc.sc}, nil
	case connectivity.Idle:
		pc.sc.Connect()
	case connectivity.TransientFailure:
		return balancer.PickResult{}, status.Errorf(codes.Unavailable, "groupcache-k8s: connecting to peer %s: %v", pc.addr, pc.err)
	}
	return balancer.PickResult{}, balancer.ErrNoSubConnAvailable
}
