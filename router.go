package k8s

// The router: the one owner of the routing state. It turns each view of the peers into
// an immutable snapshot (the ring, a client per peer, the hand-off's past rings) that
// PickPeer, the hand-off's peek, the drain and the operator page read without a lock.

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/golang/groupcache"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// router owns the ring, the peers' clients and the ones retiring, and the hand-off's
// past rings and window. Its one input is apply; its output is the snapshot, which it
// replaces and never changes. It calls no user code under its lock.
type router struct {
	self    string // this pod's peer id
	cfg     *config
	stats   *counters
	guard   *loopGuard
	channel *peerChannel // the connections to the peers
	snap    atomic.Pointer[snapshot]

	lateRuns     func() uint64              // lateRuns (liveness.go); tests replace it
	stopLiveness context.CancelFunc         // ends the liveness goroutine (liveness.go)
	livenessDone chan struct{}              // closed when it has ended
	withouts     sync.Map                   // withoutKey → *ring: the memo of ringWithout and ringWithoutGone; emptied at each view
	marked       atomic.Pointer[markedRing] // the latest ring without the peers marked unavailable (ringWithoutMarked)
	markedMu     sync.Mutex                 // orders building it: one build per set marked, not one per pick
	wake         *livenessWake              // wakes the liveness goroutine when a call begins

	mu        sync.Mutex // guards the rest, and the publishing of snapshots
	retiring  map[string]*retiringClient
	past      []pastRing // the rings used within the hand-off window, newest first
	others    *ring      // the ring the other pods use while self is not ready, or nil
	windowEnd timer      // drops the past rings whose window closed
	stopped   bool       // stop was called: every key is local from now on
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

// emptyRing routes nothing; it is the ring before the first LIST and after stop.
var emptyRing, _ = newRing(nil)

// newRouter returns a router of self whose clients use channel. Until the first apply
// every key is local.
func newRouter(self string, cfg *config, stats *counters, guard *loopGuard, channel *peerChannel) *router {
	r := &router{self: self, cfg: cfg, stats: stats, guard: guard, channel: channel, lateRuns: lateRuns,
		retiring: make(map[string]*retiringClient), livenessDone: make(chan struct{}), wake: newLivenessWake()}
	r.snap.Store(&snapshot{ring: emptyRing, self: -1})
	var ctx context.Context
	ctx, r.stopLiveness = context.WithCancel(context.Background())
	go func() {
		defer close(r.livenessDone)
		watchLiveness(ctx, r.watchedClients, r.wake)
	}()
	return r
}

// snapshot returns the routing state in force.
func (r *router) snapshot() *snapshot { return r.snap.Load() }

// watchedClients returns the clients whose peers the liveness check watches: those of
// the snapshot in force and the retiring ones, which the hand-off may still call.
func (r *router) watchedClients() []peerGetter {
	r.mu.Lock()
	defer r.mu.Unlock()
	snap := r.snap.Load()
	clients := make([]peerGetter, 0, len(snap.clients)+len(r.retiring))
	for _, c := range snap.clients {
		clients = append(clients, c)
	}
	for _, rc := range r.retiring {
		clients = append(clients, rc.client)
	}
	return clients
}

// apply makes v the view the router routes by. It is the one place that decides
// whether the members changed: then it builds their ring (before taking the lock) and
// returns its members and true. In any case it publishes a snapshot with a client for
// each member but self and for each leaving peer, records the rings the hand-off peeks
// by, and retires the clients of peers that are gone. It is called from one goroutine.
func (r *router) apply(v view) ([]string, bool) {
	old := r.snap.Load() // only this goroutine replaces the ring
	rg := old.ring
	changed := old.getters == nil || !slices.Equal(v.members, old.view.members)
	if changed {
		var err error
		if rg, err = newRing(v.members); err != nil {
			r.cfg.logger.Error("cannot build the ring; keeping the previous peers", "peers", len(v.members), "error", err)
			return nil, false
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stopped {
		return nil, false
	}
	old = r.snap.Load()
	members := rg.members()
	next := &snapshot{ring: rg, self: -1, getters: make([]groupcache.ProtoGetter, len(members)), view: v,
		health: make([]*peerHealth, len(members)), clients: make(map[string]peerGetter, len(members)+len(v.leaving)),
		without: r.ringWithoutMarked}
	for i, id := range members {
		if id == r.self {
			next.self = i
			continue
		}
		c := r.clientFor(id, old.clients)
		next.clients[id] = c
		next.getters[i] = c
		if pc, ok := c.(*peerClient); ok {
			next.health[i] = &pc.health
		}
	}
	for _, id := range v.leaving {
		if _, ok := next.clients[id]; !ok && id != r.self {
			next.clients[id] = r.clientFor(id, old.clients)
		}
	}
	if !r.cfg.handoff.Off {
		r.past, r.others = nextPast(r.past, old.view, v, changed, old.ring, r.others, r.self, r.cfg.clock.Now(),
			r.cfg.handoff.Window)
		if len(r.past) > 0 {
			next.handoff = &handoffState{self: r.self, past: r.past}
		}
		r.scheduleWindowEnd()
	}
	r.snap.Store(next)
	r.withouts.Clear() // rings of past views; a load that still holds one builds it again
	r.marked.Store(nil)
	for id, c := range old.clients {
		if _, ok := next.clients[id]; !ok {
			r.retire(id, c)
		}
	}
	if !changed {
		return nil, false
	}
	r.stats.ringRebuilds.Add(1)
	return slices.Clone(members), true
}

// clientFor returns the client for id: the current one, one still in its grace
// period, or a new one. r.mu is held.
func (r *router) clientFor(id string, current map[string]peerGetter) peerGetter {
	if c, ok := current[id]; ok {
		return c
	}
	if rc, ok := r.retiring[id]; ok {
		// Taken back even if its timer has fired: the callback waits for r.mu and, not
		// finding rc in r.retiring any more, leaves the client open for its new use.
		rc.timer.Stop()
		delete(r.retiring, id)
		return rc.client
	}
	c := newPeerClient(id, r.channel, r.cfg, r.stats, r.guard)
	c.health.wake = r.wake
	c.nextOwner = func(key string) (groupcache.ProtoGetter, bool) { return r.snapshot().pick(key) }
	return c
}

// retire closes c after the grace period, unless id comes back first. r.mu is held.
func (r *router) retire(id string, c peerGetter) {
	rc := &retiringClient{client: c}
	rc.timer = r.cfg.clock.AfterFunc(r.cfg.gracePeriod, func() {
		r.mu.Lock()
		closed := r.retiring[id] == rc
		if closed {
			delete(r.retiring, id)
		}
		r.mu.Unlock()
		if !closed {
			return
		}
		c.Close()
		if r.cfg.onClientClosed != nil {
			r.cfg.onClientClosed(id)
		}
	})
	r.retiring[id] = rc
}

// scheduleWindowEnd arranges for windowEnded to run when the window of the past ring
// replaced first closes. A ring the others still use (self not ready) has no end.
// r.mu is held.
func (r *router) scheduleWindowEnd() {
	if r.windowEnd != nil {
		r.windowEnd.Stop()
	}
	var first time.Time
	for _, p := range r.past {
		if !p.until.IsZero() && (first.IsZero() || p.until.Before(first)) {
			first = p.until
		}
	}
	if first.IsZero() {
		return
	}
	r.windowEnd = r.cfg.clock.AfterFunc(first.Add(r.cfg.handoff.Window).Sub(r.cfg.clock.Now()), r.windowEnded)
}

// windowEnded drops the past rings whose window has closed and publishes a snapshot
// without them; with none left, the snapshot carries no hand-off state, so that loads
// outside the window do not even check the time. The published snapshot and its past
// rings stay as they are: loads may be reading them.
func (r *router) windowEnded() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stopped {
		return
	}
	past := withinWindow(r.past, r.cfg.clock.Now(), r.cfg.handoff.Window)
	if len(past) != len(r.past) {
		r.past = past
		next := *r.snap.Load()
		next.handoff = nil
		if len(past) > 0 {
			next.handoff = &handoffState{self: r.self, past: past}
		}
		r.snap.Store(&next)
	}
	r.scheduleWindowEnd()
}

// peekPrevious is the hand-off of a load: when this pod owns key, and the key's owner
// changed within the window, it asks the previous owners for the value, the most recent
// first (at most maxPeeks of them), until one has it. Each has the peek timeout to
// answer, and one more when this pod has yet to connect to it (the connection's setup);
// one that does not answer in time ends the peek, unless this pod itself was starved of
// CPU meanwhile: then that peer is asked again, once per load. So a load waits at most two
// peek timeouts more than the answers before it took (misses, refusals), four for the
// peer asked again, and at most 2·maxPeeks+2 peek timeouts in all.
// Within the window, a key this pod does not own (a peer asked for it while the rings
// disagree) is peeked from its owner in this pod's ring instead. A previous owner that is
// gone (Unavailable) is followed by its successor, where its entries went: the key's
// owner, without it, in the ring by which it pushed them (pushedBy). One that misses and
// names the key's previous owners by its own rings (peekMissed) is followed by the first
// of them that is a peer of this pod. It reports false when there was no one to ask or the peeks
// missed, failed or timed out; the value is then loaded as usual.
func (r *router) peekPrevious(ctx context.Context, group, key string) ([]byte, bool) {
	s := r.snap.Load()
	if s.handoff == nil || s.self < 0 {
		if s.handoff != nil && r.cfg.logger.Enabled(ctx, slog.LevelDebug) {
			r.cfg.logger.DebugContext(ctx, "no peek: this pod is not in its ring", "group", group, "key", key)
		}
		return nil, false
	}
	var ids []string
	owner := s.ring.owner(key)
	owned := owner == s.self
	if !owned {
		// A key this pod does not own is loaded here when a peer asked for it while the
		// rings disagree (the loop guard does not forward it) or after a failed call to
		// its owner: its owner in this pod's ring, often a pod that is leaving, may hold it.
		ids = []string{s.ring.members()[owner]}
	} else {
		ids = s.handoff.previousOwners(key, s.clients, r.cfg.clock.Now(), r.cfg.handoff.Window, maxPeeks,
			func(rg *ring) *ring { return r.ringWithoutGone(rg, s) })
	}
	if len(ids) == 0 || s.clients[ids[0]] == nil {
		if r.cfg.logger.Enabled(ctx, slog.LevelDebug) { // checked first: the arguments would allocate even with debug off
			r.cfg.logger.DebugContext(ctx, "no previous owner to peek", "group", group, "key", key)
		}
		return nil, false
	}
	failed := false
	var gone []string    // the owners found gone in a row, each the successor of the one before
	var base *ring       // the ring the first of them owned the key in
	var following string // the successor asked next
	askedAgain := false  // a peer was asked again after a timeout while this pod was starved
	for i := 0; i < len(ids); i++ {
		id := ids[i]
		late := r.lateRuns()
		timeout := r.cfg.handoff.PeekTimeout
		if c, ok := s.clients[id].(interface{ connecting() bool }); ok && c.connecting() {
			timeout *= 2 // the connection's setup has a peek timeout of its own
		}
		peekCtx, cancel := context.WithTimeout(ctx, timeout)
		value, err := s.clients[id].Peek(peekCtx, group, key)
		timedOut := peekCtx.Err() != nil
		cancel()
		if timedOut && status.Code(err) == codes.DeadlineExceeded && ctx.Err() == nil && !askedAgain && r.lateRuns() != late {
			// The peek got no answer in time, and this pod was starved of CPU meanwhile (a
			// goroutine waited longer than lagLimit to run): the timeout says nothing of the
			// peer, whose answer, or the connection to it, may have come while this pod could
			// not run. It is asked once more, once per load. An answer read after the
			// deadline (a hit, a miss) is taken as it is.
			askedAgain = true
			i--
			if r.cfg.logger.Enabled(ctx, slog.LevelDebug) {
				r.cfg.logger.DebugContext(ctx, "peek timed out while this pod was starved; asking again", "peer", id,
					"group", group, "key", key)
			}
			continue
		}
		switch code := status.Code(err); {
		case err == nil:
			r.stats.peekHits.Add(1)
			if r.cfg.logger.Enabled(ctx, slog.LevelDebug) {
				r.cfg.logger.DebugContext(ctx, "peek hit", "peer", id, "group", group, "key", key)
			}
			return value, true
		case code == codes.NotFound || code == codes.Unimplemented: // not cached there, or an older peer
			// The peer named the key's previous owners by its own rings: the first that is a
			// peer of this pod and not asked yet is asked next, in place of the oldest
			// previous owner if there are maxPeeks.
			var named string
			if miss := (*peekMissed)(nil); errors.As(err, &miss) {
				for _, p := range miss.previous {
					if p != r.self && s.clients[p] != nil && !slices.Contains(ids, p) {
						ids = slices.Insert(slices.Clone(ids), i+1, p)[:min(len(ids)+1, maxPeeks)]
						if i+1 < maxPeeks {
							named = p // else the load's peeks are spent
						}
						break
					}
				}
			}
			if r.cfg.logger.Enabled(ctx, slog.LevelDebug) {
				r.cfg.logger.DebugContext(ctx, "peek missed", "peer", id, "group", group, "key", key, "next", named)
			}
		default:
			failed = true
			if r.cfg.logger.Enabled(ctx, slog.LevelDebug) {
				r.cfg.logger.DebugContext(ctx, "peeking a key's previous owner failed", "peer", id,
					"group", group, "key", key, "error", err)
			}
			if code != codes.Unavailable {
				break
			}
			// Gone (exited, or marked as not answering): it handed the entry to its
			// successor, the key's owner in its ring without it, or another holder pushed it
			// there past it; if that one is gone too, to the next. Asked next, in place of
			// the oldest previous owner if there are maxPeeks.
			if id != following {
				gone, base = gone[:0], r.pushedBy(s, key, id, owned)
			}
			if base == nil {
				r.debugNoSuccessor(ctx, group, key, id, "", "no past ring in which it owns the key")
				break
			}
			gone = append(gone, id)
			if rw := r.ringWithout(base, gone...); rw.owner(key) >= 0 {
				switch next := rw.members()[rw.owner(key)]; {
				case next == r.self:
					r.debugNoSuccessor(ctx, group, key, id, next, "its successor is this pod")
				case s.clients[next] == nil:
					r.debugNoSuccessor(ctx, group, key, id, next, "its successor is gone")
				case slices.Contains(ids, next):
					r.debugNoSuccessor(ctx, group, key, id, next, "its successor is asked already")
				default:
					ids = slices.Insert(slices.Clone(ids), i+1, next)[:min(len(ids)+1, maxPeeks)]
					following = next
				}
			}
		}
		if timedOut || ctx.Err() != nil {
			if i+1 < len(ids) && r.cfg.logger.Enabled(ctx, slog.LevelDebug) {
				r.cfg.logger.DebugContext(ctx, "peek timed out before asking every previous owner", "group", group, "key", key,
					"asked", ids[:i+1], "left", ids[i+1:])
			}
			break // a peer that does not answer in time ends the peek: the key is loaded
		}
	}
	if failed {
		r.stats.peekErrors.Add(1)
	} else {
		r.stats.peekMisses.Add(1)
	}
	return nil, false
}

// maxPushRings is how many rings pushedBy looks at for one gone owner.
const maxPushRings = 3

// pushedBy returns the ring by which the gone owner id most likely pushed key's entry:
// for a key this pod does not own, this pod's ring (which a busy watch still shows), then
// the past rings in which id owned the key, newest first. The first whose owner without id
// is not this pod is taken, among the first maxPushRings: this pod, loading the key, does
// not hold it, so the entry went by an older ring (from before this pod joined, say). If
// none, the first; nil when there is no ring in which id owns the key.
func (r *router) pushedBy(s *snapshot, key, id string, owned bool) *ring {
	var rings []*ring
	if !owned {
		rings = append(rings, s.ring)
	}
	rings = append(rings, s.handoff.ownedIn(key, id)...)
	for _, rg := range rings[:min(len(rings), maxPushRings)] {
		if rw := r.ringWithout(rg, id); rw.owner(key) >= 0 && rw.members()[rw.owner(key)] != r.self {
			return rg
		}
	}
	if len(rings) == 0 {
		return nil
	}
	return rings[0]
}

// debugNoSuccessor logs, at debug level, why the peek of a gone owner asks no successor
// (successor, if known).
func (r *router) debugNoSuccessor(ctx context.Context, group, key, gone, successor, why string) {
	if r.cfg.logger.Enabled(ctx, slog.LevelDebug) {
		r.cfg.logger.DebugContext(ctx, "no successor of a gone owner to peek", "peer", gone, "successor", successor,
			"group", group, "key", key, "why", why)
	}
}

// withoutKey names a ring without some of its members.
type withoutKey struct {
	ring *ring
	gone string    // their ids, each followed by a NUL
	in   *snapshot // if not nil, instead: its members gone from this snapshot (see goneFrom)
}

// ringWithout returns rg without the members gone, built once per view: the loads that
// peek a gone owner's successor meanwhile share it (a build takes about a millisecond at
// 150 peers). It is safe for concurrent use.
func (r *router) ringWithout(rg *ring, gone ...string) *ring {
	var b strings.Builder
	for _, id := range gone {
		b.WriteString(id)
		b.WriteByte(0)
	}
	return r.memoRing(withoutKey{ring: rg, gone: b.String()}, func() []string { return gone })
}

// ringWithoutGone returns rg without its members gone from s (goneFrom), built once per
// ring and snapshot, whatever keys the loads look up: a view's loads build at most one
// such ring per past ring. It is safe for concurrent use.
func (r *router) ringWithoutGone(rg *ring, s *snapshot) *ring {
	return r.memoRing(withoutKey{ring: rg, in: s}, func() []string { return goneFrom(rg, s.clients, r.self) })
}

// memoRing returns the ring k names from the memo, or builds it, k.ring without the ids
// gone returns, and keeps it until the next view.
func (r *router) memoRing(k withoutKey, gone func() []string) *ring {
	if v, ok := r.withouts.Load(k); ok {
		return v.(*ring)
	}
	v, _ := r.withouts.LoadOrStore(k, ringWithout(k.ring.members(), gone()...))
	return v.(*ring)
}

// markedRing is a ring without some of its members: those marked unavailable when
// pickPast asked for it.
type markedRing struct {
	base *ring
	gone []string
	rw   *ring
}

// ringWithoutMarked returns rg without the members gone, for snapshot.pickPast. Only the
// latest such ring is kept: the sets of peers marked unavailable within a view are many
// over time (each mark and recovery is one), and a ring of tableSize slots kept for each
// would grow the heap by 128 KiB per set until the next view. Concurrent picks of a new
// set wait for one build rather than each building it. It is safe for concurrent use.
func (r *router) ringWithoutMarked(rg *ring, gone ...string) *ring {
	if m := r.marked.Load(); m != nil && m.base == rg && slices.Equal(m.gone, gone) {
		return m.rw
	}
	r.markedMu.Lock()
	defer r.markedMu.Unlock()
	if m := r.marked.Load(); m != nil && m.base == rg && slices.Equal(m.gone, gone) {
		return m.rw
	}
	m := &markedRing{base: rg, gone: slices.Clone(gone), rw: ringWithout(rg.members(), gone...)}
	r.marked.Store(m)
	return m.rw
}

// stop publishes the empty snapshot, so that every key is local from now on, and
// ignores any later view.
func (r *router) stop() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stopped = true
	if r.windowEnd != nil {
		r.windowEnd.Stop()
	}
	r.snap.Store(&snapshot{ring: emptyRing, self: -1, clients: r.snap.Load().clients})
}

// closeClients ends the liveness goroutine and closes every client and the channel; call
// it after stop, once nothing calls peers any more. The clients are closed outside r.mu.
func (r *router) closeClients() {
	r.stopLiveness()
	<-r.livenessDone
	r.mu.Lock()
	var clients []peerGetter
	for _, c := range r.snap.Load().clients {
		clients = append(clients, c)
	}
	for id, rc := range r.retiring {
		rc.timer.Stop()
		clients = append(clients, rc.client)
		delete(r.retiring, id)
	}
	r.snap.Store(&snapshot{ring: emptyRing, self: -1})
	r.mu.Unlock()
	for _, c := range clients {
		c.Close()
	}
	r.channel.Close()
}
