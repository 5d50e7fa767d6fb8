package main

// The ring history: every ring the manager published, so that /peers?since=N can tell a
// watcher (the end-to-end test bed, or a person with curl) about each change as it
// happens, without reading logs.

import (
	"context"
	"slices"
	"sync"
)

// ringHistory is fed by k8s.WithPeersChanged. It is safe for concurrent use.
type ringHistory struct {
	mu      sync.Mutex
	rings   [][]string
	changed chan struct{} // closed and replaced on every change
}

func newRingHistory() *ringHistory { return &ringHistory{changed: make(chan struct{})} }

// add records the ring the manager just published.
func (h *ringHistory) add(peers []string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.rings = append(h.rings, slices.Clone(peers))
	close(h.changed)
	h.changed = make(chan struct{})
}

// since returns the rings published after the first n, waiting until there is at least
// one or ctx ends (then it returns none).
func (h *ringHistory) since(ctx context.Context, n int) [][]string {
	for {
		h.mu.Lock()
		rings, changed := h.rings, h.changed
		h.mu.Unlock()
		if len(rings) > n {
			return rings[n:]
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return nil
		}
	}
}
