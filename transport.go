package k8s

// The transport: the client of one peer, calling GroupCache/Get over gRPC.

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/golang/groupcache"
	"github.com/golang/groupcache/groupcachepb"
	"google.golang.org/grpc"
)

// Peers talk over the service that groupcache's own groupcache.proto declares:
//
//	service GroupCache { rpc Get(GetRequest) returns (GetResponse); }
//
// The messages are groupcache's groupcachepb.GetRequest and GetResponse, which grpc's
// default "proto" codec encodes through the protobuf legacy adapter, so there is no
// generated code. The method name and field numbers are those of the gRPC forks of
// groupcache, which makes the two wire-compatible.
const (
	// serviceName is the fully qualified gRPC service name.
	serviceName = "groupcachepb.GroupCache"
	// getMethod is the full method name of Get, as interceptors see it.
	getMethod = "/" + serviceName + "/Get"
	// peekMethod is the full method name of Peek, this library's addition to the service
	// for the warm hand-off: the same messages as Get, answered only from the peer's
	// caches (codes.NotFound when it does not hold the key). Peers that do not know it
	// answer codes.Unimplemented.
	peekMethod = "/" + serviceName + "/Peek"
)

// peerClient must be usable by a groupcache.PeerPicker.
var _ groupcache.ProtoGetter = (*peerClient)(nil)

// peerClient is the groupcache.ProtoGetter of one peer. It owns one gRPC connection,
// which it opens on creation and keeps until Close. It is safe for concurrent use.
type peerClient struct {
	addr    string
	conn    *grpc.ClientConn
	timeout time.Duration
	stats   *counters
	guard   *loopGuard
	logger  *slog.Logger

	calls, errors atomic.Int64 // Gets sent to this peer, and those that failed
}

// newPeerClient creates the client of the peer at addr ("host:port", IPv6 bracketed)
// with dialOpts from clientDialOptions; guard is the loop guard its manager's server
// shares. It does not wait for the connection: it starts connecting in the background,
// and calls made before the connection is up fail fast if it cannot be made.
func newPeerClient(addr string, dialOpts []grpc.DialOption, cfg *config, stats *counters,
	guard *loopGuard) (*peerClient, error) {
	conn, err := grpc.NewClient(addr, dialOpts...)
	if err != nil {
		return nil, fmt.Errorf("groupcache-k8s: creating the gRPC client of peer %s: %w", addr, err)
	}
	conn.Connect()
	return &peerClient{
		addr:    addr,
		conn:    conn,
		timeout: cfg.callTimeout,
		stats:   stats,
		guard:   guard,
		logger:  cfg.logger,
	}, nil
}

// Get asks the peer for in.Key of in.Group. It refuses, with errForwardLoop, a key that
// this manager's server is loading for a peer right now (see loopguard.go). The call is
// bounded by the call timeout (WithCallTimeout) or by ctx's deadline, whichever comes
// first: a caller with a long deadline, such as an HTTP handler's, never waits longer
// than the call timeout for one peer. Other errors are gRPC status errors; groupcache
// loads the value locally after any error.
func (p *peerClient) Get(ctx context.Context, in *groupcachepb.GetRequest, out *groupcachepb.GetResponse) error {
	group, key := in.GetGroup(), in.GetKey()
	if !p.guard.startForward(group, key) {
		p.stats.loopsPrevented.Add(1)
		return errForwardLoop
	}
	defer p.guard.endForward(group, key)
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	p.stats.peerRPCs.Add(1)
	p.calls.Add(1)
	err := p.conn.Invoke(ctx, getMethod, in, out)
	if err != nil {
		p.stats.peerErrors.Add(1)
		p.errors.Add(1)
		p.logger.DebugContext(ctx, "groupcache peer call failed; loading locally",
			"peer", p.addr, "group", group, "error", err)
	}
	return err
}

// Peek asks the peer for the value of key in group if it holds it, within ctx. A peer
// that does not hold it answers codes.NotFound; one that does not know peeks,
// codes.Unimplemented. Peeks are counted by the hand-off, not as peer calls.
func (p *peerClient) Peek(ctx context.Context, group, key string) ([]byte, error) {
	var out groupcachepb.GetResponse
	if err := p.conn.Invoke(ctx, peekMethod, &groupcachepb.GetRequest{Group: &group, Key: &key}, &out); err != nil {
		return nil, err
	}
	return out.Value, nil
}

// Close closes the connection. Calls in flight and later calls fail with codes.Canceled.
// Close the client only after no picker hands it out any more.
func (p *peerClient) Close() error {
	return p.conn.Close()
}

// brokenPeer stands for a peer whose client could not be created: every call fails,
// so groupcache loads the key locally.
type brokenPeer struct {
	err   error
	stats *counters
}

func (b brokenPeer) Get(context.Context, *groupcachepb.GetRequest, *groupcachepb.GetResponse) error {
	b.stats.peerErrors.Add(1)
	return b.err
}

func (b brokenPeer) Peek(context.Context, string, string) ([]byte, error) { return nil, b.err }

func (brokenPeer) Close() error { return nil }
