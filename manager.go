package k8s

// The manager: PeersManager turns the watcher's peer ids into a ring and a client per
// peer, and runs the server that answers peers.

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/golang/groupcache"
	"k8s.io/client-go/kubernetes"
)

// serverStopTimeout bounds the graceful stop of the manager's gRPC server in Close.
const serverStopTimeout = 5 * time.Second

// PeersManager finds the peers of a groupcache cluster from the EndpointSlices of a
// Kubernetes Service, routes keys to them and serves this pod's share over gRPC. It
// is a groupcache.PeerPicker. Create it with NewPeersManager.
type PeersManager struct {
	cfg     *config
	watcher *PeerWatcher // decides when the peers changed and calls setPeers
	self    string       // canonical id of this pod, such as "10.0.0.7:8080"
	stats   counters     // shared with the watcher
	guard   loopGuard    // keys in flight between this manager's clients and server
	svc     *getService
	route   *serviceRoute // where svc serves, for Close to detach it
	snap    atomic.Pointer[snapshot]
	channel *peerChannel // the connections to the peers
	server  *grpcServer  // nil with WithGRPCServer

	mu        sync.Mutex            // guards clients, retiring, view, past and others
	clients   map[string]peerGetter // clients of ring members and leaving peers
	retiring  map[string]*retiringClient
	view      view       // the last view of the peers
	past      []pastRing // the rings used within the hand-off window, newest first
	others    *ring      // the ring the other pods use while self is not ready, or nil
	groups    []string   // the groups made with NewGroup, for the operator page
	windowEnd timer      // drops the past rings whose window closed

	peersChanged peersNotifier // calls WithPeersChanged's function

	closing   chan struct{} // closed by Close or the end of ctx: drain, then stop
	closeOnce sync.Once
	done      chan struct{} // closed once everything is stopped
}

// retiringClient is the client of a peer that left, kept open for a grace period.
type retiringClient struct {
	client peerGetter
	timer  timer
}

// peerGetter is a client of one peer.
type peerGetter interface {
	groupcache.ProtoGetter
	Peek(ctx context.Context, group, key string) ([]byte, error)
	Close() error
}

// emptyRing routes nothing; it is the ring before the first LIST.
var emptyRing, _ = newRing(nil)

// NewPeersManager watches the EndpointSlices of serviceName in namespace, serves
// groupcache over gRPC on self and, unless WithoutPeerPickerRegistration is given,
// registers itself with groupcache.RegisterPeerPicker.
//
// port is the groupcache gRPC port of every pod; self is this pod's IP and that port,
// such as fmt.Sprintf("%s:%d", podIP, port) (IPv6 with or without brackets).
//
// It returns once the first LIST has succeeded and the peers are known. It fails at
// once on bad arguments and when the API server answers 401 or 403, and after the
// startup timeout (WithStartupTimeout) when the API server cannot be reached. ctx
// bounds the manager's life: cancelling it does what Close does.
func NewPeersManager(ctx context.Context, client kubernetes.Interface, serviceName, namespace string,
	port int, self string, opts ...Option) (*PeersManager, error) {
	cfg := newConfig(opts)
	m := &PeersManager{
		cfg:          cfg,
		peersChanged: peersNotifier{f: cfg.onRebuild},
		clients:      make(map[string]peerGetter),
		retiring:     make(map[string]*retiringClient),
		closing:      make(chan struct{}),
		done:         make(chan struct{}),
	}
	// The watch outlives ctx by the drain: it tells the drain when the others know that
	// this pod is leaving. Until the manager has started, the end of ctx stops it.
	watchCtx, stopWatch := ctx, context.CancelFunc(func() {})
	if ctx != nil {
		watchCtx, stopWatch = context.WithCancel(context.WithoutCancel(ctx))
	}
	watcher, err := newPeerWatcher(watchCtx, client, serviceName, namespace, port, self, cfg, &m.stats, m.setView)
	if err != nil {
		stopWatch()
		return nil, err
	}
	if err := cfg.validateTransport(); err != nil {
		stopWatch()
		return nil, err
	}
	dialOpts, err := cfg.clientDialOptions()
	if err == nil {
		m.channel, err = newPeerChannel(dialOpts)
	}
	if err != nil {
		stopWatch()
		return nil, err
	}
	fail := func(err error) (*PeersManager, error) {
		watcher.Close()
		stopWatch()
		m.closeClients()
		return nil, err
	}
	m.watcher, m.self = watcher, watcher.self()
	m.snap.Store(&snapshot{ring: emptyRing, self: -1})
	startup := context.AfterFunc(ctx, stopWatch)
	err = watcher.start() // the first LIST calls setView
	startup()
	if err != nil {
		return fail(err)
	}
	if err := m.startServing(); err != nil {
		return fail(err)
	}
	stopOnCtx := context.AfterFunc(ctx, m.startClose)
	go func() {
		defer close(m.done)
		defer stopWatch()
		<-m.closing
		stopOnCtx() // a closed manager is no longer tied to ctx
		m.drain()
		watcher.Close()
		m.shutdown()
	}()
	cfg.logger.Info("groupcache peers manager started", "self", m.self, "service", namespace+"/"+serviceName,
		"peers", m.Peers())
	return m, nil
}

// startServing starts the gRPC server (or attaches to the user's) and the groupcache
// registration. On failure it leaves nothing behind.
func (m *PeersManager) startServing() error {
	m.svc = newGetService(&m.stats, &m.guard, m.cfg)
	if m.cfg.registrar != nil {
		route, err := attachService(m.cfg.registrar, m.svc)
		if err != nil {
			return err
		}
		m.route = route
	} else {
		srv, err := startServer(m.self, m.cfg, m.svc)
		if err != nil {
			return fmt.Errorf("groupcache-k8s: serving groupcache on %s: %w", m.self, err)
		}
		m.server = srv
	}
	if m.cfg.register {
		if err := registerPicker(m); err != nil {
			m.stopServing(0)
			return err
		}
	}
	return nil
}

// stopServing stops the manager's own server, letting calls in flight finish for up
// to timeout, or detaches it from the user's server.
func (m *PeersManager) stopServing(timeout time.Duration) {
	if m.route != nil {
		m.route.detach(m.svc)
	}
	if m.server != nil {
		m.server.stop(timeout)
	}
}

// PickPeer returns the client of the peer that owns key, or (nil, false) when this
// pod owns it. It takes no lock and allocates nothing.
func (m *PeersManager) PickPeer(key string) (groupcache.ProtoGetter, bool) {
	return m.snap.Load().pick(key)
}

// Owner returns the peer that owns key in the current ring ("ip:port", possibly this
// pod's own address), or "" when the ring is empty. PickPeer routes by the same ring.
func (m *PeersManager) Owner(key string) string {
	r := m.snap.Load().ring
	if i := r.owner(key); i >= 0 {
		return r.members()[i]
	}
	return ""
}

// Peers returns the current ring members, sorted, self included (unless this pod's
// endpoint is terminating).
func (m *PeersManager) Peers() []string {
	return slices.Clone(m.snap.Load().ring.members())
}

// Stats returns the manager's counters.
func (m *PeersManager) Stats() Stats {
	return m.stats.snapshot(len(m.snap.Load().ring.members()))
}

// Close drains, then stops the watch, the gRPC server (gracefully, for at most a few
// seconds) and every peer connection, and waits until all of it has stopped.
// Afterwards PickPeer returns (nil, false) for every key and Peers is empty.
//
// The drain (unless WithoutHandoff) keeps serving peers' Gets and peeks, so that the
// new owners of this pod's keys can take them over: it lasts until the EndpointSlices
// no longer show this pod as ready (the other pods have dropped it from their rings)
// and no peer has asked anything for a second, or at most Handoff.Drain (15 s by
// default). Close is safe to call more than once and after ctx was cancelled, which
// starts the same steps; it always returns nil.
func (m *PeersManager) Close() error {
	m.startClose()
	<-m.done
	return nil
}

// startClose starts the drain and stop; the manager's goroutine does them.
func (m *PeersManager) startClose() {
	m.closeOnce.Do(func() { close(m.closing) })
}

// shutdown runs once the watch has ended.
func (m *PeersManager) shutdown() {
	m.peersChanged.close()
	unregisterPicker(m)
	m.snap.Store(&snapshot{ring: emptyRing, self: -1}) // from now on every key is local
	m.stopServing(serverStopTimeout)
	m.closeClients()
	m.cfg.logger.Info("groupcache peers manager stopped", "self", m.self)
}

func (m *PeersManager) closeClients() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.windowEnd != nil {
		m.windowEnd.Stop()
	}
	for _, c := range m.clients {
		c.Close()
	}
	m.clients = make(map[string]peerGetter) // a new map: old snapshots' hand-off state reads the old one
	for id, r := range m.retiring {
		r.timer.Stop()
		r.client.Close()
		delete(m.retiring, id)
	}
	m.channel.Close()
}

// setView is the watcher's onChange: when the members changed it builds their ring,
// with a client for each one but self, and publishes it; it keeps clients for leaving
// peers, which can still be peeked, records the rings the hand-off peeks by, and
// retires the clients of peers that are gone. The watcher calls it from one goroutine,
// only when the view changed. It builds the ring before taking m.mu, and tells
// WithPeersChanged after releasing it.
func (m *PeersManager) setView(v view) {
	// Only this goroutine writes m.view and the snapshot's ring, so it reads them unlocked.
	old := m.snap.Load()
	r := old.ring
	membersChanged := !slices.Equal(v.members, m.view.members) || old.getters == nil
	if membersChanged {
		var err error
		if r, err = newRing(v.members); err != nil {
			m.cfg.logger.Error("cannot build the ring; keeping the previous peers", "peers", len(v.members), "error", err)
			return
		}
	}
	m.publish(v, old.ring, r)
	if membersChanged {
		m.cfg.logger.Info("groupcache peers changed", "peers", r.members(), "leaving", v.leaving)
		m.peersChanged.tell(slices.Clone(r.members()))
	}
}

// publish makes r, the ring of view v that replaces oldRing, the one PickPeer routes by.
func (m *PeersManager) publish(v view, oldRing, r *ring) {
	m.mu.Lock()
	defer m.mu.Unlock()
	members := r.members()
	next := &snapshot{ring: r, self: -1, getters: make([]groupcache.ProtoGetter, len(members))}
	clients := make(map[string]peerGetter, len(members)+len(v.leaving))
	for i, id := range members {
		if id == m.self {
			next.self = i
			continue
		}
		c := m.clientFor(id)
		clients[id] = c
		next.getters[i] = c
	}
	for _, id := range v.leaving {
		if _, ok := clients[id]; !ok && id != m.self {
			clients[id] = m.clientFor(id)
		}
	}
	if m.cfg.handoff.enabled {
		m.past, m.others = nextPast(m.past, m.view, v, oldRing, m.others, m.self, m.cfg.clock.Now(),
			m.cfg.handoff.Window)
		if len(m.past) > 0 {
			next.handoff = &handoffState{self: m.self, past: m.past, peers: clients}
		}
		m.scheduleWindowEnd()
	}
	m.view = v
	m.snap.Store(next)
	for id, c := range m.clients {
		if _, ok := clients[id]; !ok {
			m.retire(id, c)
		}
	}
	m.clients = clients
}

// clientFor returns the client for id: the current one, one still in its grace
// period, or a new one. m.mu is held.
func (m *PeersManager) clientFor(id string) peerGetter {
	if c, ok := m.clients[id]; ok {
		return c
	}
	if r, ok := m.retiring[id]; ok {
		// Taken back even if its timer has fired: the callback waits for m.mu and, not
		// finding r in m.retiring any more, leaves the client open for its new use.
		r.timer.Stop()
		delete(m.retiring, id)
		return r.client
	}
	return newPeerClient(id, m.channel, m.cfg, &m.stats, &m.guard)
}

// retire closes c after the grace period, unless id comes back first. m.mu is held.
func (m *PeersManager) retire(id string, c peerGetter) {
	r := &retiringClient{client: c}
	r.timer = m.cfg.clock.AfterFunc(m.cfg.gracePeriod, func() {
		m.mu.Lock()
		closed := m.retiring[id] == r
		if closed {
			delete(m.retiring, id)
			c.Close()
		}
		m.mu.Unlock()
		if closed && m.cfg.onClientClosed != nil {
			m.cfg.onClientClosed(id)
		}
	})
	m.retiring[id] = r
}
