package k8s

// The discovery layer: a PeerWatcher follows the EndpointSlices of one Service and turns
// them into the sorted ids of its peers. PeersManager is built on it and only turns those
// ids into a ring and clients; WatchPeers hands them to a function for another transport.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"slices"
	"strings"
	"sync"

	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/kubernetes"
)

// PeerWatcher follows the peers of a Service: the List+Watch loop, the readiness rules
// and the handling of this pod's own endpoint that a PeersManager is built on, without
// a ring and gRPC. It hands the peer list to a function. Use it to feed another
// transport, such as groupcache's HTTPPool.Set.
type PeerWatcher struct {
	watch    *sliceWatcher
	peers    peerSet
	onChange func(view)
	stats    *counters // shared with the manager built on the watcher, if any
	logger   *slog.Logger

	life   context.Context // ends with Close or with the caller's ctx; set by start
	cancel context.CancelFunc
	done   chan struct{} // closed when the watch has ended

	mu        sync.Mutex
	current   view
	published bool // onChange has been called at least once
}

// WatchPeers starts a PeerWatcher. Its arguments and failures are those of
// NewPeersManager. Of the options only WithLogger, WithStartupTimeout and
// WithWatchIdleTimeout apply; any other is an error, since WatchPeers has no transport.
// It returns once the first LIST has succeeded, after calling onChange with the peers
// ("ip:port", sorted, self included; possibly none, when this pod's endpoint is
// terminating and no other is ready). After that, onChange is called from one goroutine
// whenever the set of peers changes; it must not block for long, and must not keep the
// slice it gets. ctx bounds the watcher's life; a nil ctx is an error.
func WatchPeers(ctx context.Context, client kubernetes.Interface, serviceName, namespace string,
	port int, self string, onChange func(peers []string), opts ...Option) (*PeerWatcher, error) {
	cfg := newConfig(opts)
	if len(cfg.managerOptions) > 0 {
		return nil, fmt.Errorf("groupcache-k8s: %s configure a PeersManager's transport or ring, which WatchPeers does not "+
			"have; of the options only WithLogger, WithStartupTimeout and WithWatchIdleTimeout apply",
			strings.Join(cfg.managerOptions, ", "))
	}
	if onChange == nil {
		return nil, errors.New("groupcache-k8s: onChange is nil")
	}
	// The watcher reports every change of the view; the caller hears of the members.
	var last []string
	stats := &counters{}
	report := func(v view) {
		if last == nil || !slices.Equal(v.members, last) {
			last = v.members
			onChange(slices.Clone(v.members))
			stats.ringRebuilds.Add(1) // counted once the new peers are in force
		}
	}
	pw, err := newPeerWatcher(ctx, client, serviceName, namespace, port, self, cfg, stats, report)
	if err != nil {
		return nil, err
	}
	life, cancel := context.WithCancel(ctx)
	if err := pw.start(life, cancel); err != nil {
		return nil, err
	}
	return pw, nil
}

// newPeerWatcher checks the arguments shared by WatchPeers and NewPeersManager and
// the watch options, and prepares a watcher that reports to onChange and counts into
// stats. It is the one place that refuses a nil ctx, before either caller derives a
// context from it (which would panic); ctx is not kept: start is given the watch's own.
// It starts nothing; start does.
func newPeerWatcher(ctx context.Context, client kubernetes.Interface, serviceName, namespace string, port int,
	self string, cfg *config, stats *counters, onChange func(view)) (*PeerWatcher, error) {
	fail := func(format string, args ...any) (*PeerWatcher, error) {
		return nil, fmt.Errorf("groupcache-k8s: "+format, args...)
	}
	if ctx == nil {
		return fail("ctx is nil; pass context.Background() to run until Close")
	}
	if client == nil || reflect.ValueOf(client).Kind() == reflect.Pointer && reflect.ValueOf(client).IsNil() {
		return fail("client is nil")
	}
	if errs := validation.IsDNS1035Label(serviceName); len(errs) > 0 {
		return fail("service name %q: %s", serviceName, errs[0])
	}
	if errs := validation.IsDNS1123Label(namespace); len(errs) > 0 {
		return fail("namespace %q: %s", namespace, errs[0])
	}
	if port < 1 || port > 65535 {
		return fail("port %d: must be between 1 and 65535", port)
	}
	selfAddr, err := parseSelf(self)
	if err != nil {
		return fail("%v", err)
	}
	if int(selfAddr.Port()) != port {
		return fail("self %q has port %d but port is %d; peers would not recognise this pod", self, selfAddr.Port(), port)
	}
	if err := cfg.givenTwice(); err != nil {
		return nil, err
	}
	switch {
	case cfg.startupTimeout <= 0:
		return fail("startup timeout must be positive, got %v", cfg.startupTimeout)
	case cfg.idleTimeout <= 0:
		return fail("watch idle timeout must be positive, got %v", cfg.idleTimeout)
	case cfg.logger == nil:
		cfg.logger = slog.New(slog.DiscardHandler)
	}
	rc := client.DiscoveryV1().RESTClient()
	if rc == nil || reflect.ValueOf(rc).Kind() == reflect.Pointer && reflect.ValueOf(rc).IsNil() {
		return fail("client has no REST client for discovery.k8s.io/v1 (a fake clientset?); " +
			"use a clientset built from a rest.Config")
	}
	pw := &PeerWatcher{
		peers: newPeerSet(serviceName, selfAddr), onChange: onChange, stats: stats, logger: cfg.logger,
		done: make(chan struct{}),
	}
	pw.watch = newSliceWatcher(rc, namespace, serviceName, cfg, stats, pw.update)
	return pw, nil
}

// start does the first LIST, which calls onChange with the first peers, and then runs
// the watch in a goroutine until the end of life, which cancel (and so Close) ends. On
// failure nothing is left running.
func (pw *PeerWatcher) start(life context.Context, cancel context.CancelFunc) error {
	pw.life, pw.cancel = life, cancel
	if err := pw.watch.initialList(pw.life, pw.watch.cfg.startupTimeout); err != nil {
		pw.cancel()
		close(pw.done)
		return fmt.Errorf("groupcache-k8s: listing endpointslices of service %s/%s: %w",
			pw.watch.namespace, pw.watch.service, err)
	}
	go func() {
		defer close(pw.done)
		pw.watch.run(pw.life)
	}()
	return nil
}

// self is this pod's peer id, "ip:port".
func (pw *PeerWatcher) self() string { return peerID(pw.peers.self.Addr(), int(pw.peers.self.Port())) }

// update is called by the slice watcher with the current slices. It calls onChange
// with the new view when, and only when, it differs from the last one (members, leaving
// peers or self's readiness), and always for the first one; whoever builds on the view
// decides what changed for it.
func (pw *PeerWatcher) update(all map[string]*slice) {
	v := pw.peers.view(all)
	pw.peers.warnFamilyMismatch(all, pw.logger)
	pw.mu.Lock()
	changed := !pw.published || !v.equal(pw.current)
	if changed {
		pw.current, pw.published = v, true
	}
	pw.mu.Unlock()
	if changed {
		pw.onChange(v)
	}
}

// Peers returns the current peers, sorted, self included (unless this pod's endpoint is
// terminating).
func (pw *PeerWatcher) Peers() []string {
	pw.mu.Lock()
	defer pw.mu.Unlock()
	return slices.Clone(pw.current.members)
}

// Stats returns the watch counters; RingRebuilds counts the changes passed to onChange.
func (pw *PeerWatcher) Stats() WatchStats {
	pw.mu.Lock()
	n := len(pw.current.members)
	pw.mu.Unlock()
	return pw.stats.watchSnapshot(n)
}

// Close stops the watch and waits until it has stopped; onChange is not called after
// Close returns. It is safe to call more than once and always returns nil.
func (pw *PeerWatcher) Close() error {
	pw.cancel()
	<-pw.done
	return nil
}
