package k8s

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/golang/groupcache"
	"github.com/golang/groupcache/groupcachepb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
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
)

// transportCredentials checks the credential options and returns the credentials of
// each side. A nil result means insecure: both are nil when no credentials option was
// given. Credentials for one side only are an error, because every pod both serves
// and dials. With WithGRPCServer the caller's server brings its own credentials, so
// server must be nil there and client credentials alone are enough.
func (c *config) transportCredentials() (server, client credentials.TransportCredentials, err error) {
	if !c.credsSet {
		return nil, nil, nil
	}
	server, client = c.serverCreds, c.clientCreds
	switch {
	case c.credsTwice:
		return nil, nil, errors.New("groupcache-k8s: WithTLS or WithTransportCredentials was given more than once; " +
			"give the credentials of both sides in one option")
	case server == nil && client == nil:
		return nil, nil, errors.New("groupcache-k8s: WithTLS or WithTransportCredentials was given no credentials; " +
			"pass both the server and the client side, or leave the option out for an insecure transport")
	case c.registrar != nil && server != nil:
		return nil, nil, errors.New("groupcache-k8s: server credentials cannot be used with WithGRPCServer, " +
			"which serves on your own grpc.Server with that server's credentials; pass nil as the server side")
	case c.registrar != nil:
		return nil, client, nil
	case server == nil:
		return nil, nil, errors.New("groupcache-k8s: client credentials were given without server credentials; " +
			"every pod serves its peers and dials them, so pass both sides to WithTLS or WithTransportCredentials")
	case client == nil:
		return nil, nil, errors.New("groupcache-k8s: server credentials were given without client credentials; " +
			"every pod serves its peers and dials them, so pass both sides to WithTLS or WithTransportCredentials")
	}
	return server, client, nil
}

// messageLimit is the largest gRPC message sent or received, in bytes. A non-positive
// setting means the default, so a zero config never rejects every message.
func (c *config) messageLimit() int {
	if c.maxMessageSize <= 0 {
		return DefaultMaxMessageSize
	}
	return c.maxMessageSize
}

// Flow-control windows of peer connections, both ways. Fixed windows let a large value go
// out without waiting for window updates (grpc's default starts at 64 KiB and grows by
// BDP estimation, pinging on the way); the benchmarks measured 256 KiB values with 64
// callers going from 0.74× to 1.03× of HTTPPool's throughput. A connection may have up to
// connWindow in flight, which BDP estimation also allows once it has grown. Setting
// both to 0 with WithDialOptions and WithServerOptions brings BDP estimation back.
const (
	streamWindow = 4 << 20
	connWindow   = 16 << 20
)

// clientDialOptions returns the dial options for every peer connection: the client
// credentials (insecure without any), the message size limit for both directions, the
// value codec, fixed flow-control windows, and then the user's WithDialOptions, last so
// that they win.
func (c *config) clientDialOptions() ([]grpc.DialOption, error) {
	_, creds, err := c.transportCredentials()
	if err != nil {
		return nil, err
	}
	if creds == nil {
		creds = insecure.NewCredentials()
	}
	limit := c.messageLimit()
	opts := []grpc.DialOption{
		grpc.WithTransportCredentials(creds),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(limit), grpc.MaxCallSendMsgSize(limit),
			grpc.ForceCodecV2(newValueCodec())),
		grpc.WithInitialWindowSize(streamWindow), grpc.WithInitialConnWindowSize(connWindow),
	}
	return append(opts, c.dialOptions...), nil
}

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
	err := p.conn.Invoke(ctx, getMethod, in, out)
	if err != nil {
		p.stats.peerErrors.Add(1)
		p.logger.DebugContext(ctx, "groupcache peer call failed; loading locally",
			"peer", p.addr, "group", group, "error", err)
	}
	return err
}

// Close closes the connection. Calls in flight and later calls fail with codes.Canceled.
// Close the client only after no picker hands it out any more.
func (p *peerClient) Close() error {
	return p.conn.Close()
}
