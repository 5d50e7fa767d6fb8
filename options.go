package k8s

// The options: their defaults, their validation, and their translation into gRPC dial
// and server options.

import (
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"slices"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/keepalive"
)

// The defaults of the options, and of two settings no option changes. Each option's doc
// states its default; every pod of a Service should use the same settings.
const (
	// defaultCallTimeout bounds every peer call, also one whose caller has a later
	// deadline (WithCallTimeout).
	defaultCallTimeout = 5 * time.Second
	// defaultMaxMessageSize is the largest gRPC message sent or received: values up to
	// 64 MiB fit with room to spare (WithMaxMessageSize).
	defaultMaxMessageSize = 128 << 20
	// defaultStartupTimeout bounds how long NewPeersManager retries an API server it
	// cannot reach before it gives up (WithStartupTimeout).
	defaultStartupTimeout = 30 * time.Second
	// defaultWatchIdleTimeout is how long a watch may stay open without a single byte
	// (event or bookmark) before it is treated as dead and restarted
	// (WithWatchIdleTimeout).
	defaultWatchIdleTimeout = 90 * time.Second
	// clientGracePeriod is how long the connection to a peer that left stays open for
	// calls already in flight. No option changes it.
	clientGracePeriod = 10 * time.Second
	// idleConnTimeout is how long a manager's server keeps a peer's connection open
	// without a call. It then closes it, and the peer's next call opens a new one (one
	// round trip, plus the TLS handshake with TLS). No option sets it alone:
	// WithServerOptions with grpc.KeepaliveParams replaces it, and with WithGRPCServer
	// the caller's server decides.
	idleConnTimeout = 2 * time.Minute
)

// An Option configures a PeersManager. Options compose: WithDialOptions and
// WithServerOptions append, and may be given any number of times; every other setting
// may be given once, and NewPeersManager and WatchPeers refuse a setting given twice
// rather than letting one option reset what another set.
type Option func(*config)

type config struct {
	dialOptions    []grpc.DialOption
	serverOptions  []grpc.ServerOption
	clientCreds    credentials.TransportCredentials
	serverCreds    credentials.TransportCredentials
	credsSet       bool
	callTimeout    time.Duration
	maxMessageSize int
	logger         *slog.Logger
	register       bool
	registrar      grpc.ServiceRegistrar
	startupTimeout time.Duration
	idleTimeout    time.Duration
	gracePeriod    time.Duration
	connIdle       time.Duration // idleConnTimeout; tests shorten it

	// given counts each setting's options, to refuse one given more than once.
	given map[string]int

	// managerOptions names the options given that only a PeersManager uses (its gRPC
	// transport and ring), so that WatchPeers can refuse them.
	managerOptions []string

	onRebuild func(peers []string) // WithPeersChanged
	handoff   Handoff              // WithHandoff

	// Test hooks: time and randomness of the watch loop, and a call when a client
	// is closed.
	clock          clock
	rand           func() float64
	onClientClosed func(peer string)
}

func defaultConfig() *config {
	return &config{
		callTimeout:    defaultCallTimeout,
		maxMessageSize: defaultMaxMessageSize,
		logger:         slog.Default(), // the application's choice; a library that discards hides its warnings
		register:       true,
		startupTimeout: defaultStartupTimeout,
		idleTimeout:    defaultWatchIdleTimeout,
		gracePeriod:    clientGracePeriod,
		connIdle:       idleConnTimeout,
		clock:          realClock{},
		rand:           defaultRand,
	}
}

// once records that the option name was given.
func (c *config) once(name string) {
	if c.given == nil {
		c.given = map[string]int{}
	}
	c.given[name]++
}

// givenTwice returns an error naming each setting given more than once, or nil.
func (c *config) givenTwice() error {
	var twice []string
	for name, n := range c.given {
		if n > 1 {
			twice = append(twice, name)
		}
	}
	if len(twice) == 0 {
		return nil
	}
	slices.Sort(twice)
	return fmt.Errorf("groupcache-k8s: %s given more than once; give each setting once", strings.Join(twice, "; "))
}

// managerOnly records that the option name applies to a PeersManager only.
func (c *config) managerOnly(name string) {
	if !slices.Contains(c.managerOptions, name) {
		c.managerOptions = append(c.managerOptions, name)
	}
}

// validateTransport checks the settings that only a PeersManager uses.
func (c *config) validateTransport() error {
	switch {
	case c.callTimeout <= 0:
		return fmt.Errorf("groupcache-k8s: call timeout must be positive, got %v", c.callTimeout)
	case c.maxMessageSize <= 0:
		return fmt.Errorf("groupcache-k8s: max message size must be positive, got %d", c.maxMessageSize)
	}
	return c.handoff.validate()
}

// newConfig is the defaults with opts applied in order; nil options are skipped.
func newConfig(opts []Option) *config {
	cfg := defaultConfig()
	for _, opt := range opts {
		if opt != nil {
			opt(cfg)
		}
	}
	return cfg
}

// WithDialOptions adds gRPC dial options used for every peer connection, after the
// library's own (so a later transport-credentials option here wins). All peers share one
// grpc.ClientConn, so its load-balancing policy, which routes each call to the peer
// PickPeer chose, and its idle timeout (none: idle connections are closed per peer, by
// the peer's server) stay the library's.
func WithDialOptions(opts ...grpc.DialOption) Option {
	return func(c *config) {
		c.managerOnly("WithDialOptions")
		c.dialOptions = appendNonNil(c.dialOptions, opts)
	}
}

// WithServerOptions adds gRPC server options, such as interceptors or keepalive
// policies, to the server the manager starts. They have no effect with WithGRPCServer.
// The server closes a peer's connection after 2 minutes without a call (the peer's next
// call opens it again); grpc.KeepaliveParams here replaces that idle timeout.
func WithServerOptions(opts ...grpc.ServerOption) Option {
	return func(c *config) {
		c.managerOnly("WithServerOptions")
		c.serverOptions = appendNonNil(c.serverOptions, opts)
	}
}

// appendNonNil appends the options that are not nil: grpc would panic on a nil one.
func appendNonNil[T comparable](to, opts []T) []T {
	var zero T
	for _, o := range opts {
		if o != zero {
			to = append(to, o)
		}
	}
	return to
}

// WithTransportCredentials secures peer traffic: server protects the manager's gRPC
// server, client is used to dial peers. Both are required unless WithGRPCServer is
// used, in which case server must be nil (that server has its own credentials).
// Without this option both sides are insecure. Mutual TLS, with every pod's
// certificate signed by the CA in pool:
//
//	server := &tls.Config{Certificates: []tls.Certificate{cert}, ClientCAs: pool,
//		ClientAuth: tls.RequireAndVerifyClientCert}
//	client := &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: pool,
//		ServerName: "cache.shop.svc"} // a name in every pod's certificate
//	k8s.WithTransportCredentials(credentials.NewTLS(server), credentials.NewTLS(client))
//
// Pods are dialled by IP: without ServerName, a peer's certificate is verified against
// its IP.
func WithTransportCredentials(server, client credentials.TransportCredentials) Option {
	return func(c *config) {
		c.managerOnly("WithTransportCredentials")
		c.once("WithTransportCredentials")
		c.serverCreds, c.clientCreds, c.credsSet = server, client, true
	}
}

// WithCallTimeout bounds every peer call (default 5 s); a caller's earlier deadline
// still applies, a later one does not extend it. A call that times out is loaded
// locally instead.
func WithCallTimeout(d time.Duration) Option {
	return func(c *config) {
		c.managerOnly("WithCallTimeout")
		c.once("WithCallTimeout")
		c.callTimeout = d
	}
}

// WithMaxMessageSize sets the largest gRPC message, in bytes, that peers send and
// receive (default 128 MiB, so that values up to 64 MiB fit with room to spare). A
// larger value is loaded locally instead.
func WithMaxMessageSize(n int) Option {
	return func(c *config) {
		c.managerOnly("WithMaxMessageSize")
		c.once("WithMaxMessageSize")
		c.maxMessageSize = n
	}
}

// WithLogger sets the logger for membership changes (Info), watch failures and peers
// that stop answering (Warn), and peer errors (Debug). The default is slog.Default(),
// as it is when the manager or watcher is created, so that a warning such as a Service
// of the other address family than the pod's is seen; nil discards everything.
//
// To log through a logr.Logger (controller-runtime's, for one), wrap it with
// logr.ToSlogHandler from github.com/go-logr/logr (v1.3.0 or later):
//
//	k8s.WithLogger(slog.New(logr.ToSlogHandler(logger)))
//
// and through klog (k8s.io/klog/v2), the same with klog's logr.Logger:
//
//	k8s.WithLogger(slog.New(logr.ToSlogHandler(klog.NewKlogr())))
//
// logr receives the Info and Warn records at verbosity 0, the Debug ones at 4.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) {
		c.once("WithLogger")
		c.logger = l
	}
}

// WithoutPeerPickerRegistration stops NewPeersManager from calling
// groupcache.RegisterPeerPicker. Use it to register the manager yourself, for example
// with groupcache.RegisterPerGroupPeerPicker, or in tests.
func WithoutPeerPickerRegistration() Option {
	return func(c *config) {
		c.managerOnly("WithoutPeerPickerRegistration")
		c.once("WithoutPeerPickerRegistration")
		c.register = false
	}
}

// WithGRPCServer registers the groupcache service on reg (typically the caller's own
// *grpc.Server) instead of starting a server on self. The caller serves and stops it,
// and its settings apply: the library's own server closes a peer's connection after 2
// minutes without a call, which
// grpc.KeepaliveParams(keepalive.ServerParameters{MaxConnectionIdle: 2 * time.Minute})
// gives that server too, and accepts the peers' keepalive pings (sent every 10 s while
// calls wait on a connection that carries nothing), which
// grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 5 * time.Second})
// gives it; with grpc's default policy (5 minutes) a peer whose calls wait on a silent
// connection for 40 s is sent away.
func WithGRPCServer(reg grpc.ServiceRegistrar) Option {
	return func(c *config) {
		c.managerOnly("WithGRPCServer")
		c.once("WithGRPCServer")
		c.registrar = reg
	}
}

// WithPeersChanged calls f after a change of the ring, with its new members
// ("ip:port", sorted, self included unless its endpoint is terminating); f owns the
// slice. f runs in a goroutine of its own, one call at a time and in order, never under
// a lock of the library: it may call the manager back (Close included), and a slow f
// never holds up the watch, though when rings change faster than f returns it gets
// only the newest members. PickPeer already routes by the new ring when f is called.
// f is not called after Close returns, except for a call already running. Use it to
// log, export or wait for membership changes. (WatchPeers takes such a function as an
// argument instead.)
func WithPeersChanged(f func(peers []string)) Option {
	return func(c *config) {
		c.managerOnly("WithPeersChanged")
		c.once("WithPeersChanged")
		c.onRebuild = f
	}
}

// WithStartupTimeout bounds how long NewPeersManager keeps retrying an API server it
// cannot reach (default 30 s). Unauthorized and Forbidden fail at once.
func WithStartupTimeout(d time.Duration) Option {
	return func(c *config) {
		c.once("WithStartupTimeout")
		c.startupTimeout = d
	}
}

// WithWatchIdleTimeout sets how long a watch may receive nothing, not even a bookmark,
// before it is restarted (default 90 s). Restarting resumes from the last
// resourceVersion and costs no LIST. It catches a server that keeps a stream open but
// stops sending. On a connection that went dead without closing, client-go
// sends the restarted watch over the same HTTP/2 connection until its health check
// drops it (about 45 s), so values below that do not recover faster from that.
func WithWatchIdleTimeout(d time.Duration) Option {
	return func(c *config) {
		c.once("WithWatchIdleTimeout")
		c.idleTimeout = d
	}
}

// --- from options to gRPC: what the manager's clients and server are given ---

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
	case server == nil && client == nil:
		return nil, nil, errors.New("groupcache-k8s: WithTransportCredentials was given no credentials; " +
			"pass both the server and the client side, or leave the option out for an insecure transport")
	case c.registrar != nil && server != nil:
		return nil, nil, errors.New("groupcache-k8s: server credentials cannot be used with WithGRPCServer, " +
			"which serves on your own grpc.Server with that server's credentials; pass nil as the server side")
	case c.registrar != nil:
		return nil, client, nil
	case server == nil:
		return nil, nil, errors.New("groupcache-k8s: client credentials were given without server credentials; " +
			"every pod serves its peers and dials them, so pass both sides to WithTransportCredentials")
	case client == nil:
		return nil, nil, errors.New("groupcache-k8s: server credentials were given without client credentials; " +
			"every pod serves its peers and dials them, so pass both sides to WithTransportCredentials")
	}
	return server, client, nil
}

// Flow-control windows of peer connections, both ways. Fixed windows let a large value go
// out without waiting for window updates (grpc's default starts at 64 KiB and grows by
// BDP estimation, pinging on the way). BENCHMARKS.md, "A remote Get", measures large
// values with both (its grpc-bdp column is grpc's windows). A connection may have up to
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
	limit := c.maxMessageSize
	opts := []grpc.DialOption{
		grpc.WithTransportCredentials(creds),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(limit), grpc.MaxCallSendMsgSize(limit),
			grpc.ForceCodecV2(newValueCodec())),
		grpc.WithInitialWindowSize(streamWindow), grpc.WithInitialConnWindowSize(connWindow),
		grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: keepaliveTime, Timeout: keepaliveTimeout}),
	}
	return append(opts, c.dialOptions...), nil
}

// HTTP/2 keepalive on peer connections, while calls wait on them (not on idle ones): a
// connection that has carried no byte for keepaliveTime gets an HTTP/2 PING, and is
// dropped if no answer comes within keepaliveTimeout. It finds a connection that went
// dead while the peer lives (a dropped conntrack entry, a wedged middlebox), which the
// liveness check's pings, on a connection of their own, do not see; grpc allows no
// shorter time than 10 s. The servers accept such pings every keepaliveMinTime (grpc's
// default is 5 minutes, after which a peer pinging more often is sent away with its
// calls failed); a server of the user's (WithGRPCServer) needs the same policy.
const (
	keepaliveTime    = 10 * time.Second
	keepaliveTimeout = 2 * time.Second
	keepaliveMinTime = 5 * time.Second
)

// serverOptionList returns the options of the server startServer creates: those of
// clientDialOptions' server side, the idle timeout of peers' connections, which connect
// on their first call (peerchannel.go), and stream workers.
func (c *config) serverOptionList() ([]grpc.ServerOption, error) {
	creds, _, err := c.transportCredentials()
	if err != nil {
		return nil, err
	}
	if creds == nil {
		creds = insecure.NewCredentials()
	}
	limit := c.maxMessageSize
	opts := []grpc.ServerOption{grpc.Creds(creds), grpc.MaxRecvMsgSize(limit), grpc.MaxSendMsgSize(limit),
		grpc.ForceServerCodecV2(newValueCodec()), grpc.InitialWindowSize(streamWindow), grpc.InitialConnWindowSize(connWindow),
		grpc.KeepaliveParams(keepalive.ServerParameters{MaxConnectionIdle: c.connIdle}),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: keepaliveMinTime}),
		// A call goes to a waiting worker, whose stack has already grown, rather than to
		// a new goroutine (a new one still takes a call when every worker is busy): a
		// small remote Get with one caller took less time (the figure is in the benchmark
		// report's transport findings, bench/cmd/report).
		grpc.NumStreamWorkers(uint32(runtime.GOMAXPROCS(0)))}
	return append(opts, c.serverOptions...), nil
}
