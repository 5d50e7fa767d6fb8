package k8s

// Liveness: a peer that stops answering (a frozen node, a partition: its connection stays
// open and nothing comes back) is noticed within about a second, and one that refuses
// connections (its pod has exited) at the first refusal. Either is marked unavailable:
// its outstanding calls fail at once, its keys go to their owner in the ring without it
// (snapshot.pick), and it is used again as soon as it answers. Kubernetes keeps such a
// pod's endpoint ready for 40 s or more, the EndpointSlice controller at scale lags tens
// of seconds behind an exit, and grpc's keepalive cannot be set below 10 s.

import (
	"context"
	"runtime/metrics"
	"sync"
	"sync/atomic"
	"time"

	"github.com/golang/groupcache/groupcachepb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/status"
)

// The timings of the liveness check. A call to a healthy peer over a healthy network
// takes about a millisecond (BENCHMARKS.md); a peer whose backend is slow keeps its calls
// outstanding but answers a ping at once, since its server answers pings without
// touching any group.
const (
	// livenessTick is how often the router looks at its peers' outstanding calls.
	livenessTick = 100 * time.Millisecond
	// suspectAfter is how long calls may be outstanding to a peer, with none of them
	// finishing, before the peer is pinged.
	suspectAfter = 250 * time.Millisecond
	// pingTimeout bounds the ping of a suspect peer; a peer that does not answer within it
	// is marked unavailable. A peer is thus marked within about 850 ms of its last answer.
	pingTimeout = 500 * time.Millisecond
	// recheckTimeout bounds each ping of a peer marked unavailable. It is long so that a
	// peer that comes back (a node unfrozen) answers the ping already waiting for it.
	recheckTimeout = 5 * time.Second
	// recheckMinWait and recheckMaxWait bound the wait between two failed pings of a peer
	// marked unavailable, which doubles from the one to the other. A peer that refuses
	// connections fails each ping at once, so it is asked twice a second at most.
	recheckMinWait = 100 * time.Millisecond
	recheckMaxWait = 500 * time.Millisecond
	// lagLimit is how long a goroutine of this process may wait for a CPU before the
	// process counts as starved: a ping that goes unanswered while this process could not
	// run does not mark the peer (see lateRuns).
	lagLimit = 100 * time.Millisecond
)

// pingMethod is the full method name of Ping, this library's addition to the service: an
// empty GetRequest answered with an empty GetResponse by the peer's server itself. Any
// answer, even codes.Unimplemented from a peer that does not know pings, shows that the
// peer is alive.
const pingMethod = "/" + grpcServiceName + "/Ping"

// peerHealth is what one peer client knows of its peer's liveness: the calls outstanding,
// so that they can be failed at once, and whether the peer is marked unavailable.
type peerHealth struct {
	unavailable atomic.Bool   // set while the peer does not answer pings
	marks       atomic.Int64  // times the peer was marked unavailable
	wake        *livenessWake // the router's; nil in tests of the health alone

	mu         sync.Mutex
	cancels    []context.CancelFunc // of the calls outstanding, by slot; nil for a free slot
	free       []int                // free slots of cancels
	inflight   int                  // calls outstanding
	completed  int64                // calls the peer answered, ever
	unanswered int64                // calls that ended unanswered (their caller's deadline), ever

	// Read and written by the router's liveness goroutine only.
	seen       int64     // completed, as it saw it last
	seenRead   int64     // the bytes read from the peer, as it saw them last
	seenGaveUp int64     // unanswered, as it saw it last
	since      time.Time // since when calls have waited for the peer with none answered and no byte read; zero if none waits
	pinging    bool      // a ping of the peer is in flight
	pingDone   atomic.Bool
	pingOK     atomic.Bool
}

// begin records a call that cancel cancels, and returns its slot for end, the count of
// marks so far (a call cancelled by a mark sees it changed), and false if the peer is
// marked unavailable (then the call is not to be made; end it at once). It allocates
// nothing once the peer has had as many calls outstanding at once.
func (h *peerHealth) begin(cancel context.CancelFunc) (int, int64, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.inflight++
	h.wake.poke() // after the count: see watchLiveness
	slot := len(h.cancels)
	if n := len(h.free); n > 0 {
		slot = h.free[n-1]
		h.free = h.free[:n-1]
		h.cancels[slot] = cancel
	} else {
		h.cancels = append(h.cancels, cancel)
	}
	// markUnavailable sets the mark and counts it before it takes h.mu: a call it did
	// not cancel sees both.
	return slot, h.marks.Load(), !h.unavailable.Load()
}

// end records that the call in slot has finished, answered by the peer or not: a call
// that ended because its own deadline passed or its caller gave up shows nothing of the
// peer's life (callers with short deadlines would otherwise hide a frozen peer).
func (h *peerHealth) end(slot int, answered bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.inflight--
	if answered {
		h.completed++
	} else {
		h.unanswered++
	}
	h.cancels[slot] = nil
	h.free = append(h.free, slot)
}

// markUnavailable marks the peer unavailable and cancels its outstanding calls. It
// reports false if the peer was marked already.
func (h *peerHealth) markUnavailable() bool {
	if !h.unavailable.CompareAndSwap(false, true) {
		return false
	}
	h.marks.Add(1)
	h.mu.Lock()
	var cancels []context.CancelFunc
	for _, c := range h.cancels {
		if c != nil {
			cancels = append(cancels, c)
		}
	}
	h.mu.Unlock()
	for _, c := range cancels {
		c() // the calls see the mark, set above, and fail as calls to an unavailable peer
	}
	return true
}

// suspect is the liveness goroutine's look at the peer at now, when received bytes have
// been read from it in all: it reports whether the peer should be pinged, because calls
// have waited for it for suspectAfter with none answered and no byte coming in, and no
// ping or re-check is under way. Calls that ended unanswered (their callers' deadlines
// were short) keep the count going across the gaps between them: callers asking a frozen
// peer now and then, each for less than suspectAfter, still get it marked. It also reports
// whether the peer needs the next look: false when no call waits for it, none ended
// unanswered since the last look and no ping is under way, so that a look later than the
// next tick would find what the tick would have found.
func (h *peerHealth) suspect(now time.Time, received int64) (ping, busy bool) {
	if h.pinging {
		if !h.pingDone.Load() {
			return false, true
		}
		h.pinging = false
		if h.pingOK.Load() {
			h.since = now // it answered: count the outstanding calls' time afresh
		}
	}
	h.mu.Lock()
	inflight, completed, unanswered := h.inflight, h.completed, h.unanswered
	h.mu.Unlock()
	answered := completed != h.seen || received != h.seenRead
	gaveUp := unanswered != h.seenGaveUp
	h.seen, h.seenRead, h.seenGaveUp = completed, received, unanswered
	busy = inflight > 0 || gaveUp
	switch {
	case answered: // count afresh from now, if calls still wait
		h.since = time.Time{}
		if inflight > 0 {
			h.since = now
		}
		return false, busy
	case inflight == 0 && !gaveUp:
		return false, false // nothing asked since the last look; the count goes on when something is
	case h.since.IsZero():
		h.since = now
		return false, busy
	}
	return !h.unavailable.Load() && now.Sub(h.since) >= suspectAfter, busy
}

// alive reports whether err, the outcome of a ping, shows that the peer answered. Only
// a deadline passed without an answer and a failed connection do not; a cancelled ping
// (the client is closing) counts as an answer, so that nothing is marked on the way out.
func alive(err error) bool {
	switch status.Code(err) {
	case codes.DeadlineExceeded, codes.Unavailable:
		return false
	}
	return true
}

// ping asks the peer for a ping within timeout and reports whether it answered, or at
// least sent something meanwhile. Pings go on a connection of their own, dialled by the
// first ping: on the calls' connection a ping would wait behind the large values the peer
// is sending and behind the server's limit of concurrent streams.
func (p *peerClient) ping(timeout time.Duration) bool {
	ctx, cancel := context.WithTimeout(p.life, timeout)
	defer cancel()
	before := p.received.Load()
	var out groupcachepb.GetResponse
	err := p.channel.invoke(ctx, p.pings, pingMethod, &groupcachepb.GetRequest{}, &out)
	return alive(err) || p.received.Load() != before
}

// lateRuns returns how many times a goroutine of this process has waited longer than
// lagLimit for a CPU (as the runtime samples it: /sched/latencies:seconds).
func lateRuns() uint64 {
	sample := []metrics.Sample{{Name: "/sched/latencies:seconds"}}
	metrics.Read(sample)
	if sample[0].Value.Kind() != metrics.KindFloat64Histogram {
		return 0
	}
	h := sample[0].Value.Float64Histogram()
	var n uint64
	for i, c := range h.Counts {
		if h.Buckets[i] >= lagLimit.Seconds() { // the bucket's lower bound
			n += c
		}
	}
	return n
}

// checkSuspect pings the peer in a goroutine of the client's; when it does not answer,
// the peer is marked unavailable, its outstanding calls fail, and it is re-checked until
// it answers. It is called by the liveness goroutine after suspect reported true.
func (p *peerClient) checkSuspect() {
	h := &p.health
	h.pinging = true
	h.pingDone.Store(false)
	p.background(func() {
		// A ping unanswered while this process was starved of CPU (a goroutine waited
		// longer than lagLimit to run) says nothing of the peer: it is not marked, and
		// looked at afresh.
		late := p.lateRuns()
		ok := p.ping(pingTimeout) || p.lateRuns() != late
		h.pingOK.Store(ok)
		h.pingDone.Store(true)
		if !ok && p.mark("groupcache peer does not answer; its keys go to their next owner until it does") {
			p.recheck()
		}
	})
}

// markIfRefused marks the peer unavailable when err, a call's, failed because the last
// attempt to connect to the peer failed (nothing listens at its address: the pod has
// exited, or its container is restarting), and re-checks it in the background until it
// answers. Kubernetes may keep such a pod's endpoint ready for many seconds (the
// EndpointSlice controller lags at scale), and while it is marked its keys go to their
// next owner (snapshot.pick), where a leaving pod pushed its entries, instead of being
// loaded again by every pod asked for them. It reports whether the peer is marked
// after a refusal, by this call or by another.
func (p *peerClient) markIfRefused(err error) bool {
	if status.Code(err) != codes.Unavailable || p.conn.connState() != connectivity.TransientFailure {
		return false
	}
	if p.health.unavailable.Load() {
		return true
	}
	if p.mark("groupcache peer refuses connections; its keys go to their next owner until it answers") {
		p.background(p.recheck)
	}
	return p.health.unavailable.Load()
}

// mark marks the peer unavailable, counts and logs it with msg, and reports whether it
// did: false if the peer was marked already or the client is closed.
func (p *peerClient) mark(msg string) bool {
	if p.life.Err() != nil || !p.health.markUnavailable() {
		return false
	}
	p.stats.peersMarkedUnavailable.Add(1)
	p.logger.Warn(msg, "peer", p.addr)
	return true
}

// recheck pings the peer marked unavailable until it answers, then marks it available.
// It returns early when the client is closed.
func (p *peerClient) recheck() {
	wait := recheckMinWait
	for !p.ping(recheckTimeout) {
		// A peer that refuses connections (restarting) fails pings at once; the next
		// one dials afresh rather than after grpc's reconnect backoff.
		p.pings.resetIfFailed()
		select {
		case <-p.life.Done():
			return
		case <-time.After(wait):
		}
		wait = min(2*wait, recheckMaxWait)
	}
	if p.life.Err() != nil {
		return
	}
	p.conn.resetIfFailed() // calls too
	p.health.unavailable.Store(false)
	p.logger.Info("groupcache peer answers again", "peer", p.addr)
}

// background runs f in a goroutine that Close waits for, unless the client is closed
// (the liveness goroutine may look at a snapshot whose client the router has just closed).
func (p *peerClient) background(f func()) {
	p.bgMu.Lock()
	defer p.bgMu.Unlock()
	if p.closed {
		return
	}
	p.running.Add(1)
	go func() {
		defer p.running.Done()
		f()
	}()
}

// watchLiveness looks at the peers that clients returns every livenessTick and pings
// the suspect ones, until ctx ends. It is the router's liveness goroutine: the only
// reader and writer of the peers' suspect state. While no call waits for any peer it
// sleeps until one begins (wake): an idle pod of a large fleet would otherwise wake ten
// times a second to look at every peer, and 150 such pods on a node keep its CPUs busy.
func watchLiveness(ctx context.Context, clients func() []peerGetter, wake *livenessWake) {
	ticker := time.NewTicker(livenessTick)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-ticker.C:
			if look(now, clients()) {
				continue
			}
			// Say so before looking again: a call that begins after that look's count
			// finds the flag set and wakes this goroutine (begin counts, then pokes, under
			// the lock the look takes). A call to a client that look did not list starts
			// after the router published it, which it did after clients() returned the
			// list, so it finds the flag set too.
			wake.idle.Store(true)
			if look(time.Now(), clients()) {
				wake.idle.Store(false)
				continue
			}
			select {
			case <-ctx.Done():
				return
			case <-wake.ch:
			}
			ticker.Reset(livenessTick)
		}
	}
}

// look is one look of the liveness goroutine at the peers of clients at now: it pings the
// suspect ones and reports whether any needs the next look.
func look(now time.Time, clients []peerGetter) (busy bool) {
	for _, c := range clients {
		p, ok := c.(*peerClient)
		if !ok {
			continue
		}
		ping, needed := p.health.suspect(now, p.received.Load())
		if ping {
			p.checkSuspect()
		}
		busy = busy || needed || ping
	}
	return busy
}

// livenessWake is how a call that begins wakes the liveness goroutine sleeping because no
// call was outstanding. A call pays one atomic load while the goroutine is awake.
type livenessWake struct {
	idle atomic.Bool   // set while the goroutine sleeps or is about to
	ch   chan struct{} // buffered 1
}

func newLivenessWake() *livenessWake { return &livenessWake{ch: make(chan struct{}, 1)} }

// poke wakes the liveness goroutine if it sleeps. w may be nil.
func (w *livenessWake) poke() {
	if w != nil && w.idle.Load() && w.idle.CompareAndSwap(true, false) {
		select {
		case w.ch <- struct{}{}:
		default:
		}
	}
}
