package k8s

// The drain: a manager shutting down keeps serving its peers until they have taken over
// its keys (see handoff.go), and then stops.

import (
	"context"
	"time"
)

const (
	// drainQuiet is how long the peers must have sent nothing (no Get, no peek) for a
	// drain to end early, once they know this pod is leaving.
	drainQuiet = time.Second
	// drainPoll is how often a drain checks whether it may end.
	drainPoll = 100 * time.Millisecond
)

// drain keeps the server answering peers until the others know this pod is leaving,
// have stopped asking, and this pod has pushed its entries to their new owners (it
// starts the pushes, to the owners in its ring without itself, see pusher.leave), or until the
// drain bound, and reports true; or until ctx
// ends, and reports false. The ring and clients stay as they are, so the process's own
// Gets keep working too.
func (m *PeersManager) drain(ctx context.Context) bool {
	h := m.cfg.handoff
	if h.Off || h.Drain <= 0 {
		return true
	}
	m.stats.draining.Store(true) // from now on pushes to this pod are refused (push.go)
	defer m.stats.draining.Store(false)
	m.pusher.leave(m.router.snapshot().ring)
	start := m.cfg.clock.Now()
	m.cfg.logger.Info("draining: serving peers until they stop asking", "self", m.self, "max", h.Drain)
	defer func() {
		m.cfg.logger.Info("drained", "self", m.self, "after", m.cfg.clock.Now().Sub(start),
			"requests", m.stats.drainRequests.Load())
	}()
	end := start.Add(h.Drain)
	for {
		now := m.cfg.clock.Now()
		if !now.Before(end) {
			return true
		}
		if m.othersKnow() && now.Sub(time.Unix(0, m.stats.lastPeerRequest.Load())) >= drainQuiet && m.pushesStarted() &&
			m.pusher.idleNow() {
			return true
		}
		select {
		case <-m.cfg.clock.After(min(drainPoll, end.Sub(now))):
		case <-ctx.Done():
			m.cfg.logger.Info("drain cut short", "self", m.self)
			return false
		}
	}
}

// pushesStarted reports whether the pusher has the change that made the ring in force:
// the router publishes a ring before setView hands its change to the pusher, and an idle
// pusher in between has not started the pushes yet. It is read before the pusher's idleness.
func (m *PeersManager) pushesStarted() bool {
	return m.handed.Load() == m.router.snapshot().ring
}

// othersKnow reports whether no other pod routes keys to this one any more: its
// endpoint is not ready in the slices, or no other pod is a member.
func (m *PeersManager) othersKnow() bool {
	v := m.router.snapshot().view
	alone := len(v.members) == 0 || len(v.members) == 1 && v.members[0] == m.self
	return !v.selfReady || alone && len(v.leaving) == 0
}
