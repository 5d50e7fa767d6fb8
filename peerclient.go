package k8s

// The peer client: the client of one peer, calling GroupCache/Get and Peek over gRPC.

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/golang/groupcache"
	"github.com/golang/groupcache/groupcachepb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
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
	// grpcServiceName is the fully qualified name of the gRPC service (not the Kubernetes
	// Service whose EndpointSlices the watch follows).
	grpcServiceName = "groupcachepb.GroupCache"
	// getMethod is the full method name of Get, as interceptors see it.
	getMethod = "/" + grpcServiceName + "/Get"
	// peekMethod is the full method name of Peek, this library's addition to the service
	// for the warm hand-off: the same messages as Get, answered only from the peer's
	// caches (codes.NotFound when it does not hold the key). Peers that do not know it
	// answer codes.Unimplemented.
	peekMethod = "/" + grpcServiceName + "/Peek"
)

// peerClient must be usable by a groupcache.PeerPicker.
var _ groupcache.ProtoGetter = (*peerClient)(nil)

// peerClient is the groupcache.ProtoGetter of one peer: its subchannel in the manager's
// peer channel, which connects on the first call (see peerchannel.go). It is safe for
// concurrent use.
type peerClient struct {
	addr    string
	channel *peerChannel
	conn    *peerConn
	timeout time.Duration
	stats   *counters
	guard   *loopGuard
	logger  *slog.Logger

	calls, errors atomic.Int64 // Gets sent to this peer, and those that failed

	// nextOwner is the router's pick of a key's owner, past the peers marked unavailable
	// (passOn); nil in tests of a client without a router.
	nextOwner func(key string) (groupcache.ProtoGetter, bool)

	health   peerHealth         // its liveness (liveness.go)
	pings    *peerConn          // the connection of the liveness check's pings
	lateRuns func() uint64      // lateRuns (liveness.go); tests replace it
	received *atomic.Int64      // bytes read from the peer's connections (peerchannel.go)
	life     context.Context    // ends when the client is closed
	end      context.CancelFunc // ends life
	running  sync.WaitGroup     // the client's pings, which Close waits for
	bgMu     sync.Mutex         // orders starting a ping with Close
	closed   bool               // Close was called: no ping starts; bgMu guards it
}

// newPeerClient creates the client of the peer at addr ("host:port", IPv6 bracketed) on
// channel; guard is the loop guard its manager's server shares. It opens no connection:
// the first call does.
func newPeerClient(addr string, channel *peerChannel, cfg *config, stats *counters, guard *loopGuard) *peerClient {
	p := &peerClient{
		addr:     addr,
		channel:  channel,
		conn:     newPeerConn(addr),
		pings:    newPeerConn(addr),
		lateRuns: lateRuns,
		timeout:  cfg.callTimeout,
		stats:    stats,
		guard:    guard,
		logger:   cfg.logger,
	}
	p.life, p.end = context.WithCancel(context.Background())
	p.received = channel.receivedFrom(addr)
	return p
}

// Get asks the peer for in.Key of in.Group. It refuses, with errForwardLoop, a key that
// this manager's server is loading for a peer right now (see loopguard.go). The call is
// bounded by the call timeout (WithCallTimeout) or by ctx's deadline, whichever comes
// first: a caller with a long deadline, such as an HTTP handler's, never waits longer
// than the call timeout for one peer. While the peer is marked unavailable (it stopped
// answering, see liveness.go), Get fails at once with codes.Unavailable, and so do the
// calls outstanding when it is marked; such a Get, and one the peer refused, goes on to
// the key's owner past the marked peers (passOn), within the same call timeout, and fails
// only if that is this pod. Other errors are gRPC status errors; groupcache loads the
// value locally after any error, unless the group was made by NewGroup and the owner
// answered that its getter failed (see ownererror.go).
func (p *peerClient) Get(ctx context.Context, in *groupcachepb.GetRequest, out *groupcachepb.GetResponse) error {
	if p.health.unavailable.Load() {
		return p.passOn(ctx, time.Now().Add(p.timeout), in, out, p.failedFast())
	}
	group, key := in.GetGroup(), in.GetKey()
	if value, ok := pushedValue(ctx, group, key); ok {
		// A push being stored, whose key another pod came to own after the push was
		// checked: the pushed value answers, and nothing is forwarded (see getService.Push).
		out.Value = value
		return nil
	}
	if !p.guard.startForward(group, key) {
		p.stats.loopsPrevented.Add(1)
		return errForwardLoop
	}
	defer p.guard.endForward(group, key)
	caller := ctx
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	deadline, _ := ctx.Deadline()
	slot, marks, ok := p.health.begin(cancel)
	if !ok {
		p.health.end(slot, false)
		return p.passOn(caller, deadline, in, out, p.failedFast())
	}
	p.stats.peerRPCs.Add(1)
	p.calls.Add(1)
	err := p.channel.invoke(ctx, p.conn, getMethod, in, out)
	p.health.end(slot, err == nil || ctx.Err() == nil)
	if err == nil {
		return nil
	}
	if status.Code(err) == codes.Canceled && p.health.marks.Load() != marks {
		return p.passOn(caller, deadline, in, out, p.failedFast()) // cancelled by the mark
	}
	p.stats.peerErrors.Add(1)
	p.errors.Add(1)
	if isOwnerError(err) { // the owner answered: never taken for a refusal
		if pendingOwnerErrors.put(group, key, err) {
			return err
		}
	} else if p.markIfRefused(err) {
		return p.passOn(caller, deadline, in, out, err)
	}
	p.logger.DebugContext(ctx, "groupcache peer call failed; loading locally",
		"peer", p.addr, "group", group, "error", err)
	return err
}

// maxPassOns is how many times one Get goes on to the next owner of its key (passOn).
// In a rolling update the next owners may have exited too: at 150 pods the EndpointSlices
// listed pods for 20 s after they had exited, a quarter of the ring at a time, and runs
// of three exited owners in a row were common. A hop to a pod that has exited costs one
// refused connection; every pod marks it and skips it from then on.
const maxPassOns = 4

// passedOnKey is the context key of the number of times a Get was passed on.
type passedOnKey struct{}

// passOn sends a Get that failed with err because this peer is marked unavailable (it
// refused the connection, or stopped answering) to the key's owner in the ring without
// the peers so marked, as PickPeer would now, and returns that call's error; it returns
// err itself when that owner is this pod, or after maxPassOns. In a rolling update the
// owner is often a pod that has just exited and the next owner holds the entries it
// pushed: without this, every pod whose first call found the owner gone loaded the key
// itself. The call is the next owner's Get within ctx, the Get's, and deadline, the end
// of this call's timeout: the hops share one call timeout, so that a Get passed on past
// owners that stop answering (marked one after the other, each within about a second)
// still ends within the call timeout. The loop guard applies to it as to any.
func (p *peerClient) passOn(ctx context.Context, deadline time.Time, in *groupcachepb.GetRequest, out *groupcachepb.GetResponse, err error) error {
	hops, _ := ctx.Value(passedOnKey{}).(int)
	if p.nextOwner == nil || hops >= maxPassOns || ctx.Err() != nil || !time.Now().Before(deadline) {
		return err
	}
	next, ok := p.nextOwner(in.GetKey())
	if !ok || next == groupcache.ProtoGetter(p) {
		return err
	}
	p.stats.callsPassedOn.Add(1)
	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	return next.Get(context.WithValue(ctx, passedOnKey{}, hops+1), in, out)
}

// failedFast counts and returns the error of a call to a peer marked unavailable.
func (p *peerClient) failedFast() error {
	p.stats.callsFailedFast.Add(1)
	return status.Errorf(codes.Unavailable, "groupcache-k8s: peer %s does not answer; loading the key locally", p.addr)
}

// Peek asks the peer for the value of key in group if it holds it, within ctx. A peer
// that does not hold it answers codes.NotFound, as a *peekMissed if it named the key's
// previous owners; one that does not know peeks, codes.Unimplemented. Peeks are counted
// by the hand-off, not as peer calls.
func (p *peerClient) Peek(ctx context.Context, group, key string) ([]byte, error) {
	if p.health.unavailable.Load() {
		return nil, status.Errorf(codes.Unavailable, "groupcache-k8s: peer %s does not answer", p.addr)
	}
	var out groupcachepb.GetResponse
	var trailer metadata.MD
	if err := p.channel.invoke(ctx, p.conn, peekMethod, &groupcachepb.GetRequest{Group: &group, Key: &key}, &out,
		grpc.Trailer(&trailer)); err != nil {
		p.markIfRefused(err)
		if previous := trailer.Get(peekPreviousMD); len(previous) > 0 && status.Code(err) == codes.NotFound {
			return nil, &peekMissed{err: err, previous: previous[:min(len(previous), maxPeeks)]}
		}
		return nil, err
	}
	return out.Value, nil
}

// connecting reports whether a call would first have to connect to the peer: it has no
// connection yet, or one being set up (its server closed the last one, or it was never
// called).
func (p *peerClient) connecting() bool {
	st := p.conn.connState()
	return st == connectivity.Idle || st == connectivity.Connecting
}

// Close closes the connections and waits for the client's pings to end; closing again
// does nothing. Calls in flight
// fail, later calls fail with codes.Canceled. Close the client only after no picker
// hands it out any more, and not under a lock the client's logger may need.
func (p *peerClient) Close() error {
	p.bgMu.Lock()
	again := p.closed
	p.closed = true
	p.bgMu.Unlock()
	if again {
		return nil // the count of bytes is forgotten once only
	}
	p.end()
	p.conn.close()
	p.pings.close()
	p.running.Wait()
	p.channel.forget(p.addr)
	return nil
}

// peekMissed is a peer's answer to a peek that it does not hold the key (codes.NotFound),
// naming the key's previous owners by its past rings, newest first: ids as the peer sent
// them, which the asker asks only if they are peers of its own.
type peekMissed struct {
	err      error
	previous []string
}

func (e *peekMissed) Error() string              { return e.err.Error() }
func (e *peekMissed) Unwrap() error              { return e.err }
func (e *peekMissed) GRPCStatus() *status.Status { return status.Convert(e.err) }
