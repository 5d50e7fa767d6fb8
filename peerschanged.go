package k8s

// The WithPeersChanged callback: called in order from a goroutine of its own, never
// under a lock of the library, so that it may call the manager back and can never stop
// the watch.

import "sync"

// peersNotifier calls f with the members of each new ring. It runs f in a goroutine
// that exists only while there is something to tell: when rings change faster than f
// returns, f gets the newest members next, skipping the ones in between.
type peersNotifier struct {
	f func(peers []string)

	mu      sync.Mutex
	next    []string // members not yet told, if pending
	pending bool
	running bool // a goroutine is calling f or about to
	closed  bool
}

// tell hands peers to f, which owns them, unless the notifier is closed.
func (n *peersNotifier) tell(peers []string) {
	if n.f == nil {
		return
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return
	}
	n.next, n.pending = peers, true
	if !n.running {
		n.running = true
		go n.run()
	}
}

// run calls f until there is nothing more to tell.
func (n *peersNotifier) run() {
	for {
		n.mu.Lock()
		peers, pending := n.next, n.pending
		n.next, n.pending = nil, false
		if !pending || n.closed {
			n.running = false
			n.mu.Unlock()
			return
		}
		n.mu.Unlock()
		n.f(peers)
	}
}

// close drops what was not told yet; f is not called again, except by a call already
// running, which may still be running when close returns (f may call Close).
func (n *peersNotifier) close() {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.closed, n.next, n.pending = true, nil, false
}
