package k8s

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"

	"k8s.io/client-go/kubernetes"
)

// PeerWatcher follows the peers of a Service exactly as a PeersManager does (the same
// List+Watch loop, readiness rules and self handling) but has no ring and no gRPC: it
// hands the peer list to a function. Use it to feed another transport, such as
// groupcache's HTTPPool.Set.
type PeerWatcher struct {
	cancel   context.CancelFunc
	done     chan struct{}
	peers    peerSet
	onChange func([]string)
	stats    counters
	logger   *slog.Logger

	mu        sync.Mutex
	current   []string
	published bool // onChange has been called at least once
}

// WatchPeers starts a PeerWatcher. Its arguments and failures are those of
// NewPeersManager; of the options, only WithLogger, WithStartupTimeout and
// WithWatchIdleTimeout apply. It returns once the first LIST has succeeded, after
// calling onChange with the peers ("ip:port", sorted, self included). After that,
// onChange is called from one goroutine whenever the set of peers changes; it must not
// block for long, and must not keep the slice it gets. ctx bounds the watcher's life.
func WatchPeers(ctx context.Context, client kubernetes.Interface, serviceName, namespace string,
	port int, self string, onChange func(peers []string), opts ...Option) (*PeerWatcher, error) {
	cfg := newConfig(opts)
	selfAddr, rc, err := validate(ctx, client, serviceName, namespace, port, self, cfg)
	if err != nil {
		return nil, err
	}
	if onChange == nil {
		return nil, fmt.Errorf("groupcache-k8s: onChange is nil")
	}
	pw := &PeerWatcher{done: make(chan struct{}), peers: newPeerSet(serviceName, selfAddr), onChange: onChange,
		logger: cfg.logger}
	life, cancel := context.WithCancel(ctx)
	pw.cancel = cancel
	w := newSliceWatcher(rc, namespace, serviceName, cfg, &pw.stats, pw.update)
	if err := w.initialList(life, cfg.startupTimeout); err != nil {
		cancel()
		return nil, fmt.Errorf("groupcache-k8s: listing endpointslices of service %s/%s: %w", namespace, serviceName, err)
	}
	go func() {
		defer close(pw.done)
		w.run(life)
	}()
	return pw, nil
}

// update is called by the watcher with the current slices.
func (pw *PeerWatcher) update(all map[string]*slice) {
	ids := pw.peers.ids(all)
	pw.peers.warnFamilyMismatch(all, pw.logger)
	pw.mu.Lock()
	changed := !pw.published || !slices.Equal(ids, pw.current) // the first set is news, even an empty one
	if changed {
		pw.current, pw.published = ids, true
		pw.stats.ringRebuilds.Add(1)
	}
	pw.mu.Unlock()
	if changed {
		pw.onChange(slices.Clone(ids))
	}
}

// Peers returns the current peers, sorted, self included (unless this pod's endpoint is
// terminating).
func (pw *PeerWatcher) Peers() []string {
	pw.mu.Lock()
	defer pw.mu.Unlock()
	return slices.Clone(pw.current)
}

// Stats returns the watch counters; RingRebuilds counts the changes passed to onChange,
// and the transport counters stay zero.
func (pw *PeerWatcher) Stats() Stats {
	pw.mu.Lock()
	n := len(pw.current)
	pw.mu.Unlock()
	return pw.stats.snapshot(n)
}

// Close stops the watch and waits until it has stopped; onChange is not called after
// Close returns. It is safe to call more than once and always returns nil.
func (pw *PeerWatcher) Close() error {
	pw.cancel()
	<-pw.done
	return nil
}
