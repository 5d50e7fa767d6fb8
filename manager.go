package k8s

// The manager: PeersManager wires the watcher to the router, runs the server that
// answers peers, and closes it all in order.

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
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
//
// It only wires the parts together: the watcher's views go to the router, which owns
// the routing state; the server answers peers; Close drains, asking the router's
// snapshot whether the others know that this pod is leaving.
type PeersManager struct {
	cfg     *config
	self    string       // canonical id of this pod, such as "10.0.0.7:8080"
	watcher *PeerWatcher // tells setView of every new view of the peers
	router  *router      // the ring, the clients and the hand-off's past rings
	pusher  *pusher      // hands entries to their keys' new owners
	stats   counters     // shared with the watcher, the router and the server
	guard   loopGuard    // keys in flight between this manager's clients and server
	svc     *getService
	storing storingPushes // keys svc stores for a leaving peer, answered locally meanwhile
	route   *serviceRoute // where svc serves, for Close to detach it
	server  *grpcServer   // nil with WithGRPCServer

	peersChanged peersNotifier            // calls WithPeersChanged's function
	groups       atomic.Pointer[[]string] // the groups made with NewGroup, sorted; never changed

	closing   chan struct{} // closed by Close, Shutdown or the end of ctx: drain if asked, then stop
	closeOnce sync.Once
	done      chan struct{} // closed once everything is stopped

	stopPushing func() // ends the pusher's goroutine and waits for it
	// handed is the last ring setView has dealt with: the pusher has the change that
	// made it (or the change needed no push). Until it is the snapshot's ring, a change
	// is published but its pushes have not started, and the drain must not end.
	handed atomic.Pointer[ring]

	drainAsked atomic.Bool        // Shutdown came before the stop began: drain first
	drainCtx   context.Context    // ends when the drain must end early
	cutDrain   context.CancelFunc // ends drainCtx: Close, or the end of Shutdown's ctx
	drained    atomic.Bool        // the drain ran to its end (its rules or its bound)
}

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
// bounds the manager's life: cancelling it does what Close does; a nil ctx is an error
// (pass context.Background() for a manager that lives until Close). When it fails, the
// WithPeersChanged function is not called after it returns, except for a call already
// running, which it does not wait for (that call may be waiting for its caller).
func NewPeersManager(ctx context.Context, client kubernetes.Interface, serviceName, namespace string,
	port int, self string, opts ...Option) (*PeersManager, error) {
	cfg := newConfig(opts)
	m := &PeersManager{
		cfg:          cfg,
		peersChanged: peersNotifier{f: cfg.onRebuild},
		closing:      make(chan struct{}),
		done:         make(chan struct{}),
	}
	m.drainCtx, m.cutDrain = context.WithCancel(context.Background())
	watcher, err := newPeerWatcher(ctx, client, serviceName, namespace, port, self, cfg, &m.stats, m.setView)
	if err != nil {
		return nil, err // a nil ctx among them: nothing above derives a context from it
	}
	if err := cfg.validateTransport(); err != nil {
		return nil, err
	}
	dialOpts, err := cfg.clientDialOptions()
	var channel *peerChannel
	if err == nil {
		channel, err = newPeerChannel(dialOpts)
	}
	if err != nil {
		return nil, err
	}
	m.watcher, m.self = watcher, watcher.self()
	if self, err := netip.ParseAddrPort(m.self); err == nil {
		channel.from = self.Addr() // peers tell pushes from this pod by it
	}
	m.router = newRouter(m.self, cfg, &m.stats, &m.guard, channel)
	m.pusher = newPusher(m.self, cfg, &m.stats, m.loggedKeys, func() map[string]peerGetter { return m.router.snapshot().clients })
	pushCtx, stopPushing := context.WithCancel(context.Background())
	pushing := make(chan struct{})
	go func() {
		defer close(pushing)
		m.pusher.run(pushCtx)
	}()
	m.stopPushing = func() { stopPushing(); <-pushing }
	fail := func(err error) (*PeersManager, error) {
		watcher.Close()
		m.stopPushing()
		m.peersChanged.close() // no new callback for a manager the caller never gets
		m.router.stop()
		m.router.closeClients()
		return nil, err
	}
	// The watch outlives ctx by the drain: it tells the drain when the others know that
	// this pod is leaving. Until the manager has started, the end of ctx stops it.
	watchCtx, stopWatch := context.WithCancel(context.WithoutCancel(ctx))
	startup := context.AfterFunc(ctx, stopWatch)
	err = watcher.start(watchCtx, stopWatch) // the first LIST calls setView
	startup()
	if err != nil {
		return fail(err)
	}
	if err := m.startServing(); err != nil {
		return fail(err)
	}
	stopOnCtx := context.AfterFunc(ctx, m.stopNow)
	go func() {
		defer close(m.done)
		<-m.closing
		stopOnCtx() // a closed manager is no longer tied to ctx
		stopTimeout := time.Duration(0)
		if m.drainAsked.Load() && m.drain(m.drainCtx) {
			m.drained.Store(true)
			stopTimeout = serverStopTimeout
		}
		watcher.Close()
		m.shutdown(stopTimeout)
	}()
	cfg.logger.Info("groupcache peers manager started", "self", m.self, "service", namespace+"/"+serviceName,
		"peers", m.Peers())
	return m, nil
}

// startServing starts the gRPC server (or attaches to the user's) and the groupcache
// registration. On failure it leaves nothing behind.
func (m *PeersManager) startServing() error {
	m.svc = newGetService(&m.stats, &m.guard, m.cfg)
	m.svc.storing = &m.storing
	m.svc.routing, m.svc.self = m.router.snapshot, m.self
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
// pod owns it. A key whose owner is marked unavailable (it does not answer pings, or
// refuses connections) goes to its owner in the ring without the peers so marked, which
// may be this pod. It takes no lock, and allocates nothing unless the key's owner is
// marked.
func (m *PeersManager) PickPeer(key string) (groupcache.ProtoGetter, bool) {
	if m.storing.has(key) {
		return nil, false // a leaving peer's push is being stored here (push.go)
	}
	return m.router.snapshot().pick(key)
}

// Owner returns the peer that owns key in the current ring ("ip:port", possibly this
// pod's own address), or "" when the ring is empty. PickPeer routes by the same ring,
// past owners marked unavailable.
func (m *PeersManager) Owner(key string) string {
	r := m.router.snapshot().ring
	if i := r.owner(key); i >= 0 {
		return r.members()[i]
	}
	return ""
}

// Peers returns the current ring members, sorted, self included (unless this pod's
// endpoint is terminating).
func (m *PeersManager) Peers() []string {
	return slices.Clone(m.router.snapshot().ring.members())
}

// Stats returns the manager's counters.
func (m *PeersManager) Stats() Stats {
	return m.stats.snapshot(len(m.router.snapshot().ring.members()))
}

// Close stops the manager at once: the watch, the gRPC server (calls in flight from
// peers fail, and the peers load those keys themselves) and every peer connection, and
// waits until all of it has stopped. It does not drain: use Shutdown when the pod
// leaves. Afterwards PickPeer returns (nil, false) for every key and Peers is empty.
// Close during Shutdown ends Shutdown's drain at once. The end of the ctx given to
// NewPeersManager does what Close does. Close is safe to call more than once and
// concurrently; it always returns nil.
func (m *PeersManager) Close() error {
	m.stopNow()
	<-m.done
	return nil
}

// Shutdown stops the manager the way a pod should leave, as http.Server.Shutdown does
// for a server: first it drains, serving peers' Gets and peeks so that the new owners
// of this pod's keys can take them over, until the EndpointSlices no longer show this
// pod as ready (the other pods have dropped it from their rings) and no peer has asked
// anything for a second, or at most Handoff.Drain (15 s by default; no drain when the
// hand-off is Off); then it stops as Close does, but lets peers' calls in flight finish
// for up to 5 s. It returns when everything has stopped.
//
// ctx bounds it: when ctx ends first, the drain ends there, the manager stops at once,
// and Shutdown returns ctx's error. Give it what is left of the pod's termination grace
// period after preStop, less a margin for the process's own exit. A Shutdown after the
// stop has begun (Close, another Shutdown, the end of the manager's ctx) waits for that
// stop and adds no drain. A nil ctx is an error.
func (m *PeersManager) Shutdown(ctx context.Context) error {
	if ctx == nil {
		return errors.New("groupcache-k8s: Shutdown with a nil context")
	}
	m.drainAsked.Store(true)
	cut := context.AfterFunc(ctx, m.cutDrain)
	defer cut()
	m.startClose()
	<-m.done
	if err := ctx.Err(); err != nil && !m.drained.Load() {
		return err
	}
	return nil
}

// stopNow ends any drain and starts the stop.
func (m *PeersManager) stopNow() {
	m.cutDrain()
	m.startClose()
}

// startClose starts the stop, with a drain first if Shutdown asked for one; the
// manager's goroutine does them.
func (m *PeersManager) startClose() {
	m.closeOnce.Do(func() { close(m.closing) })
}

// shutdown runs once the watch has ended; peers' calls in flight may finish within
// stopTimeout.
func (m *PeersManager) shutdown(stopTimeout time.Duration) {
	m.peersChanged.close()
	unregisterPicker(m)
	m.router.stop() // from now on every key is local
	m.stopPushing()
	m.stopServing(stopTimeout)
	m.router.closeClients()
	m.cfg.logger.Info("groupcache peers manager stopped", "self", m.self)
}

// setView is the watcher's onChange: the router applies v, and when the members
// changed the manager hands the change to the pusher, then logs the members and tells
// WithPeersChanged, outside any lock.
func (m *PeersManager) setView(v view) {
	before := m.router.snapshot().ring
	if members, changed := m.router.apply(v); changed {
		after := m.router.snapshot().ring // only this goroutine replaces it
		if !m.cfg.handoff.Off && len(before.members()) > 0 {
			m.pusher.submit(pushJob{from: before, to: after})
		}
		m.handed.Store(after)
		m.cfg.logger.Info("groupcache peers changed", "peers", members, "leaving", v.leaving)
		m.peersChanged.tell(members)
	}
}
