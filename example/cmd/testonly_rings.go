package main

// Test-only (TESTONLY_RING_HISTORY=on): the ring history, every ring the node published,
// served at /testonly/rings?since=N, so that a watcher (the end-to-end test bed) learns of
// each change as it happens, without reading logs. Not for users: the history only grows.

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"
)

// ringHistoryWait is how long /testonly/rings?since=N waits for a ring after the first N.
const ringHistoryWait = 30 * time.Second

// ringHistory is fed by the node's ring callback (k8s.WithPeersChanged). It is safe for
// concurrent use.
type ringHistory struct {
	mu      sync.Mutex
	rings   [][]string
	changed chan struct{} // closed and replaced on every change
}

func newRingHistory() *ringHistory { return &ringHistory{changed: make(chan struct{})} }

// add records the ring the node just published.
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

// handler serves GET /testonly/rings?since=N: {"self": self, "since": N, "rings": [...]}, the
// rings published after the first N, oldest first. It answers as soon as there is one, or
// with no rings after ringHistoryWait or once stop (the example's shutdown) has ended. A
// since that is missing or not a number of 0 or more is a 400.
func (h *ringHistory) handler(stop context.Context, self string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v := r.URL.Query().Get("since")
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			http.Error(w, fmt.Sprintf("since=%q: want the number of rings already seen, 0 or more", v), http.StatusBadRequest)
			return
		}
		wait, cancel := context.WithTimeout(r.Context(), ringHistoryWait)
		defer cancel()
		unhook := context.AfterFunc(stop, cancel)
		defer unhook()
		writeJSON(w, map[string]any{"self": self, "since": n, "rings": h.since(wait, n)})
	})
}
