package k8s

// The pusher: when the ring changes, this pod hands the entries it holds whose keys it
// no longer owns to their new owners, and when it shuts down while still in its ring, it
// hands every entry it holds to the owners in the ring without it. It does not wait for
// anyone to ask: the peek (handoff.go) finds only what the new owner is asked for while
// the previous owner lives, and hot keys answered from other pods' hot caches, or keys
// asked once in minutes, are asked after it is gone. The receiving side is push.go.

import (
	"context"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/golang/groupcache"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// The pusher's budget. One pod pushes at most pushRate bytes a second (pushConcurrency
// entries in flight) and pushBudget bytes per run of its work: a rolling update replaces pods one by one, and
// the pushes of one change must neither saturate a pod's network (a gigabit link carries
// about 110 MiB/s; a quarter of it leaves the rest to serving) nor outlast it (a 64 MiB
// cache goes in about 2 s; pushBudget covers a cache four times that, and what the budget
// does not cover the peek still finds while the previous owner lives).
const (
	pushRate    = 32 << 20
	pushBudget  = 256 << 20
	pushTimeout = 2 * time.Second // one push; a peer that takes longer is skipped for the change
)

// pushConcurrency is how many pushes one pod has in flight at once: a push of a small entry
// costs a round trip, and one at a time a cache of small entries would outlast a drain.
const pushConcurrency = 8

// maxMergedChanges is how many changes one piece of work follows ring by ring; past that it
// pushes every entry this pod holds whose key it does not own in the last ring.
const maxMergedChanges = 16

// entryPusher is a peer client that can push (peerclient.go, push.go).
type entryPusher interface {
	Push(ctx context.Context, group, key string, value []byte) error
}

// pushJob is one change of the ring: the entries whose key self owns in from and not in
// to go to their owners in to; with from nil, every entry self holds whose key it does
// not own in to.
type pushJob struct {
	from, to *ring
}

// pushWork is what the changes not yet pushed in full ask for: the entries whose key self
// owned in any ring of froms, or whose owner there is no member of to (every entry it
// holds, with all), and that self does not own in to, go to their owners in to. leaving
// says that self is shutting down (its pushes say so, see push.go).
type pushWork struct {
	froms   []*ring
	all     bool
	to      *ring
	leaving bool
}

// moved reports whether key is an entry w pushes. Besides the keys self owned, those of an
// owner that left move: self holds such an entry when the owner pushed it here while
// leaving, or a peer pushed it here past that owner, before this pod had seen it leave,
// and it goes on to the key's next owner.
func (w *pushWork) moved(key, self string) bool {
	if ownedBy(w.to, key, self) {
		return false
	}
	return w.all || slices.ContainsFunc(w.froms, func(r *ring) bool {
		o := r.owner(key)
		if o < 0 {
			return false
		}
		id := r.members()[o]
		_, stays := slices.BinarySearch(w.to.members(), id)
		return id == self || !stays
	})
}

// pusher runs the push work of a manager, from a goroutine of its own. A change that comes
// while the work of earlier ones is unfinished is merged with it: the work that runs next
// pushes what the earlier changes had not pushed yet, to the owners in the latest ring,
// and skips the entries already handed to those owners (unless a change dropped the owner
// from the ring since: one that comes back has lost them). In a rolling update the changes
// come faster than a cache is pushed, and the entries an earlier change had moved were lost
// to the push when a newer change ended its work.
type pusher struct {
	self    string
	groups  func() map[string]*keyLog // the groups made by NewGroup of this manager, by name
	clients func() map[string]peerGetter
	cfg     *config
	stats   *counters

	mu         sync.Mutex
	next       *pushWork     // the work to run next
	unfinished *pushWork     // the work of every change not yet pushed in full (next, or the one running)
	idle       chan struct{} // closed while no work runs or waits
	wake       chan struct{}

	// left are the owners that some change since the run took its work dropped from the
	// ring: what was delivered to them is forgotten, as a peer that comes back under the
	// same address (a container restarted in place) has lost it.
	left map[string]bool

	// leaving is set once this pod shuts down (leave): from then on every change pushes
	// every entry it holds to the owners in the ring without it.
	leaving bool
	// latest is the ring of the last change submitted, nil before the first.
	latest *ring

	// delivered holds the entries pushed since unfinished was last empty, or since this
	// pod was last in its own ring, with the owner each went to ("group\x00key" → owner);
	// the run goroutine's only.
	delivered map[string]string

	// gone are the owners that answered that they are leaving (or that this pod, leaving,
	// could not reach twice), until a ring without them comes: later work pushes past them
	// from the start instead of asking them again, which took a retry round each while a
	// rolling update's stale rings still held them. The run goroutine's only.
	gone map[string]bool
}

func newPusher(self string, cfg *config, stats *counters, groups func() map[string]*keyLog,
	clients func() map[string]peerGetter) *pusher {
	p := &pusher{self: self, groups: groups, clients: clients, cfg: cfg, stats: stats,
		idle: make(chan struct{}), wake: make(chan struct{}, 1), delivered: map[string]string{}, gone: map[string]bool{}}
	close(p.idle)
	return p
}

// leave hands every entry this pod holds to its owner in current without this pod, and
// every later change's to the owners in that change's ring without it: the pod is shutting
// down. It does not wait for the change that drops this pod from its own ring: on a busy
// node the watch shows it seconds late, or not before the drain ends, and the pod then
// handed over nothing. current is the ring in force when the pod had no change submitted
// yet; after one, leave goes by the latest change's ring, which a change handed over while
// the caller read current may have made newer (a ring newer than that one has its change
// on the way, which submit merges).
func (p *pusher) leave(current *ring) {
	p.mu.Lock()
	p.leaving = true
	if p.latest != nil {
		current = p.latest
	}
	p.merge(pushJob{to: current})
	p.mu.Unlock()
	p.wakeUp()
}

// submit merges the change j into the unfinished work, makes that the next work to run,
// and ends the work running. Once the pod is leaving, j pushes every entry it holds, to
// the owners in j's ring without this pod.
func (p *pusher) submit(j pushJob) {
	p.mu.Lock()
	p.merge(j)
	p.mu.Unlock()
	p.wakeUp()
}

// merge is submit's work under p.mu, which it holds.
func (p *pusher) merge(j pushJob) {
	p.forgetLeft(j)
	if j.from != nil {
		p.latest = j.to
	}
	if p.leaving {
		j.from = nil
		if slices.Contains(j.to.members(), p.self) {
			j.to = ringWithout(j.to.members(), p.self)
		}
	}
	w := &pushWork{to: j.to, leaving: p.leaving}
	if u := p.unfinished; u != nil {
		w.froms, w.all = slices.Clone(u.froms), u.all
	}
	w.froms = append(w.froms, j.from)
	if w.all = w.all || j.from == nil || len(w.froms) > maxMergedChanges; w.all {
		w.froms = nil
	}
	p.unfinished, p.next = w, w
	select {
	case <-p.idle:
		p.idle = make(chan struct{})
	default:
	}
}

// wakeUp tells the run goroutine that work waits.
func (p *pusher) wakeUp() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// forgetLeft marks the owners that the change j dropped from the ring, also while this
// pod is leaving (its work then pushes every entry, but what it delivered to an owner
// that comes back is lost all the same). p.mu is held.
func (p *pusher) forgetLeft(j pushJob) {
	if j.from == nil {
		return
	}
	for _, id := range j.from.members() {
		if !slices.Contains(j.to.members(), id) {
			if p.left == nil {
				p.left = make(map[string]bool)
			}
			p.left[id] = true
		}
	}
}

// newer reports whether work waits.
func (p *pusher) newer() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.next != nil
}

// idleNow reports whether no work runs or waits.
func (p *pusher) idleNow() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.idle:
		return true
	default:
		return false
	}
}

// waitIdle waits until no work runs or waits, or ctx ends.
func (p *pusher) waitIdle(ctx context.Context) {
	p.mu.Lock()
	idle := p.idle
	p.mu.Unlock()
	select {
	case <-idle:
	case <-ctx.Done():
	}
}

// run runs the work until ctx ends.
func (p *pusher) run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-p.wake:
		}
		for {
			p.mu.Lock()
			w, left := p.next, p.left
			p.next, p.left = nil, nil
			if w == nil {
				select {
				case <-p.idle: // a wake left over from work the loop took already
				default:
					close(p.idle)
				}
				p.mu.Unlock()
				break
			}
			p.mu.Unlock()
			maps.DeleteFunc(p.delivered, func(_, owner string) bool { return left[owner] })
			p.push(ctx, w)
			p.mu.Lock()
			if p.next == nil { // done, or cut short by the end of ctx or the budget
				p.unfinished = nil
				// A pod out of its own ring (leaving, or not ready) remembers what it
				// delivered: each later change pushes it every entry it holds, and only
				// those whose owner changed need to go again.
				if slices.Contains(w.to.members(), p.self) {
					clear(p.delivered)
				}
			}
			p.mu.Unlock()
		}
	}
}

// pushRetries are the waits before the pusher pushes again the entries whose new owner
// had not seen the change yet: the same watch event reaches every pod within tens of
// milliseconds, a pod busy serving may take a few hundred, and while a rolling update
// starts dozens of pods at once on the same nodes, seconds (150 pods on two cores: up to
// ten). The retries span 11.75 s, within a drain's default 15 s.
var pushRetries = []time.Duration{250 * time.Millisecond, 500 * time.Millisecond, time.Second,
	2 * time.Second, 4 * time.Second, 4 * time.Second}

// push pushes w's entries, pushConcurrency at a time, until they are done, the budget is
// spent, newer work waits, or ctx ends.
func (p *pusher) push(ctx context.Context, w *pushWork) {
	start := time.Now()
	defer func() { p.stats.pushNanos.Add(int64(time.Since(start))) }()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	b := &pushBatch{p: p, budget: pushBudget, due: time.Now(), skip: map[string]bool{}, timeouts: map[string]int{},
		leaving: w.leaving, leavers: map[string]bool{}, unreachable: map[string]bool{}}
	entries := p.entries(ctx, w)
	if ctx.Err() != nil {
		return
	}
	to := w.to
	if gone := p.stillGone(to); len(gone) > 0 {
		to = ringWithout(to.members(), gone...)
		var lost int
		entries, lost = p.reroute(entries, to, gone)
		p.stats.pushFailures.Add(int64(lost))
	}
	defer func() {
		for id := range b.leavers {
			p.gone[id] = true
		}
	}()
	unreachableRounds := map[string]int{}
	for i := 0; ; i++ {
		if !b.send(ctx, cancel, entries) || len(b.again) == 0 {
			return // cut short (the entries left are the newer work's), or done
		}
		if i == len(pushRetries) {
			p.stats.pushFailures.Add(int64(len(b.again)))
			return
		}
		select { // let the owners catch up with the change
		case <-time.After(pushRetries[i]):
		case <-ctx.Done():
			return
		}
		entries, b.again = b.again, nil
		for o := range b.unreachable {
			// A leaving pod's view may be stale: an owner it cannot reach in two rounds
			// (0.75 s) has often exited, and its keys are its next owner's.
			if unreachableRounds[o]++; w.leaving && unreachableRounds[o] >= 2 {
				b.leavers[o] = true
			}
		}
		clear(b.unreachable)
		if len(b.leavers) > 0 { // owners that answered they are leaving: their next owners
			// Not without self: a pod that stays keeps the keys it owns past the leavers
			// (reroute leaves them out), and a leaving pod's to holds no self (submit).
			gone := slices.Collect(maps.Keys(b.leavers))
			for _, id := range gone {
				p.gone[id] = true
			}
			to = ringWithout(to.members(), gone...)
			var lost int
			entries, lost = p.reroute(entries, to, gone)
			p.stats.pushFailures.Add(int64(lost))
			clear(b.leavers)
		}
	}
}

// stillGone returns the owners known to be leaving (gone) that are members of to, and
// forgets those that are not: an owner back in a later ring is a new process.
func (p *pusher) stillGone(to *ring) []string {
	var out []string
	for id := range p.gone {
		if _, ok := slices.BinarySearch(to.members(), id); ok {
			out = append(out, id)
		} else {
			delete(p.gone, id)
		}
	}
	return out
}

// reroute returns entries with the owners they have in to, and how many have no owner
// there that it can push to (to is empty, or the owner has no client): those are lost.
// An entry whose owner there is this pod stays here, and is left out too. An entry whose
// owner was one of gone (the owners pushed past) records it in its past.
func (p *pusher) reroute(entries []pushEntry, to *ring, gone []string) (out []pushEntry, lost int) {
	clients := p.clients()
	for _, e := range entries {
		o := to.owner(e.key)
		if o >= 0 && to.members()[o] == p.self {
			continue
		}
		if o < 0 {
			lost++
			continue
		}
		if slices.Contains(gone, e.owner) {
			e.past = append(slices.Clip(e.past), e.owner)
		}
		e.owner = to.members()[o]
		c, ok := clients[e.owner].(entryPusher)
		if !ok {
			lost++
			continue
		}
		e.to = c
		out = append(out, e)
	}
	return out, lost
}

// entriesPerCheck is how many keys entries looks at between two checks of its context:
// a key costs a lookup in each ring of the work, and full key logs take hundreds of
// milliseconds, which Close must not wait for.
const entriesPerCheck = 256

// entries returns w's entries: their keys, values and owners, in the order of the
// groups' names and of each key log, leaving out those already delivered to the same
// owner. Values are read as the push reaches them (see pushBatch.sendOne). When ctx ends
// it stops and returns what it has listed.
func (p *pusher) entries(ctx context.Context, w *pushWork) []pushEntry {
	clients := p.clients()
	members := w.to.members()
	groups := p.groups()
	names := make([]string, 0, len(groups))
	for name := range groups {
		names = append(names, name)
	}
	slices.Sort(names)
	var out []pushEntry
	for _, name := range names {
		g := groupcache.GetGroup(name)
		for i, key := range groups[name].keys() {
			if i%entriesPerCheck == 0 && ctx.Err() != nil {
				return out
			}
			if !w.moved(key, p.self) {
				continue
			}
			o := w.to.owner(key)
			if o < 0 {
				continue
			}
			owner := members[o]
			if p.delivered[name+"\x00"+key] == owner {
				continue
			}
			if to, ok := clients[owner].(entryPusher); ok {
				out = append(out, pushEntry{to: to, owner: owner, g: g, group: name, key: key, past: w.left(key, p.self)})
			}
		}
	}
	return out
}

// left returns the owners key had in w's from-rings, other than self, that are not
// members of w.to: they left, and an owner that has not seen them leave yet stores the
// entry all the same when the push names them (getService.Push).
func (w *pushWork) left(key, self string) []string {
	var out []string
	for _, r := range w.froms {
		o := r.owner(key)
		if o < 0 {
			continue
		}
		id := r.members()[o]
		if _, stays := slices.BinarySearch(w.to.members(), id); !stays && id != self && !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	return out
}

// pushEntry is an entry to push, and its new owner.
type pushEntry struct {
	to         entryPusher
	owner      string
	g          *groupcache.Group
	group, key string
	// past are the owners the entry was pushed past (they answered that they are
	// leaving, or a leaving pod could not reach them) and those it had in the change's
	// earlier rings that the new ring left out, which the push tells its owner: an owner
	// whose ring still gives the key to one of them stores it (getService.Push).
	past []string
}

// pushBatch is the state one push shares among its senders: the rate, the budget, the
// owners skipped or timing out, and the entries to push again.
type pushBatch struct {
	p      *pusher
	mu     sync.Mutex
	budget int64
	due    time.Time // when the rate allows the next push; real time, whatever the manager's clock
	skip   map[string]bool
	// timeouts counts, by owner, the pushes that timed out
	timeouts map[string]int
	again    []pushEntry
	// leaving says that this pod is shutting down, which its pushes tell the owners;
	// leavers are the owners that answered that they are leaving themselves.
	leaving bool
	leavers map[string]bool
	// unreachable are the owners that could not be reached in this round.
	unreachable map[string]bool
}

// send pushes entries, pushConcurrency at a time, and reports whether it went through
// them all: it stops at the end of ctx, when the budget is spent, or when newer work
// waits, and then cancels the pushes in flight (stop is ctx's cancel). Each owner's
// entries go in their order, and a free slot goes to the owner with the fewest pushes in
// flight: a slow owner holds a share of the slots, not all of them, and the other owners'
// entries do not wait behind its own.
func (b *pushBatch) send(ctx context.Context, stop context.CancelFunc, entries []pushEntry) bool {
	var owners []string // in the order of their first entry
	lanes := make(map[string][]pushEntry)
	for _, e := range entries {
		if _, ok := lanes[e.owner]; !ok {
			owners = append(owners, e.owner)
		}
		lanes[e.owner] = append(lanes[e.owner], e)
	}
	inFlight := make(map[string]int)
	finished := make(chan string, pushConcurrency) // the owner of each push that returned
	running, left := 0, len(entries)
	complete := true
	for left > 0 {
		if ctx.Err() != nil || b.p.newer() || b.spent() {
			complete = false
			break
		}
		if running == pushConcurrency {
			inFlight[<-finished]--
			running--
			continue
		}
		next := ""
		for _, o := range owners {
			if len(lanes[o]) == 0 {
				continue
			}
			if b.skipped(o) { // its pushes would return at once
				left -= len(lanes[o])
				lanes[o] = nil
				continue
			}
			if next == "" || inFlight[o] < inFlight[next] {
				next = o
			}
		}
		if next == "" {
			break // the owners left were skipped
		}
		e := lanes[next][0]
		lanes[next] = lanes[next][1:]
		left--
		inFlight[next]++
		running++
		go func() {
			b.sendOne(ctx, e)
			finished <- e.owner
		}()
	}
	if !complete {
		stop()
	}
	for ; running > 0; running-- {
		<-finished
	}
	return complete && ctx.Err() == nil
}

// skipped reports whether the pushes to owner are skipped for the rest of the push.
func (b *pushBatch) skipped(owner string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.skip[owner]
}

// spent reports whether the budget is spent.
func (b *pushBatch) spent() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.budget <= 0
}

// sendOne pushes e when the rate allows. An owner that answers that it does not own the
// key yet, or that cannot be reached (a call fails at once: its liveness mark, a refused
// connection), gets it again later; one that does not know pushes or refuses is skipped
// for the rest of the push and counted as one failure; one that does not answer in time
// is skipped once pushConcurrency of its pushes have timed out, each counted: a single
// push times out when the owner is loading that key and the push waits for the load,
// while its other pushes go through, and a frozen owner's pushes in flight time out
// together. Counted over the push, not in a row, the timeouts cost at most what a frozen
// owner's do, also for an owner that is slow now and then. Other failures are counted
// each.
func (b *pushBatch) sendOne(ctx context.Context, e pushEntry) {
	b.mu.Lock()
	if b.skip[e.owner] {
		b.mu.Unlock()
		return
	}
	b.mu.Unlock()
	value, ok := cachedValue(e.g, e.key)
	if !ok {
		if b.p.cfg.logger.Enabled(ctx, slog.LevelDebug) { // checked first: the arguments would allocate even with debug off
			b.p.cfg.logger.DebugContext(ctx, "not pushed: no longer cached", "group", e.group, "key", e.key)
		}
		return // evicted since it was loaded
	}
	b.mu.Lock()
	now := time.Now()
	wait := b.due.Sub(now)
	b.due = later(b.due, now).Add(time.Duration(len(value)) * time.Second / pushRate)
	b.budget -= int64(len(value))
	b.mu.Unlock()
	if wait > 0 {
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return
		}
	}
	pctx, cancel := context.WithTimeout(ctx, pushTimeout)
	if b.leaving {
		pctx = metadata.AppendToOutgoingContext(pctx, pushLeavingMD, "1")
	}
	for _, id := range e.past {
		pctx = metadata.AppendToOutgoingContext(pctx, pushPastMD, id)
	}
	err := e.to.Push(pctx, e.group, e.key, value)
	cancel()
	if ctx.Err() != nil {
		return // cut short: newer work pushes it, or the pusher stopped
	}
	stats := b.p.stats
	if b.p.cfg.logger.Enabled(ctx, slog.LevelDebug) {
		b.p.cfg.logger.DebugContext(ctx, "pushed", "group", e.group, "key", e.key, "to", e.owner, "code", status.Code(err))
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	switch code := status.Code(err); code {
	case codes.OK:
		stats.pushesSent.Add(1)
		stats.pushedBytesSent.Add(int64(len(value)))
		b.p.delivered[e.group+"\x00"+e.key] = e.owner
	case codes.FailedPrecondition, codes.Unavailable:
		// not the owner yet; leaving (then to the next owner); or not reachable for a
		// moment (marked, restarting)
		if isLeaving(err) {
			b.leavers[e.owner] = true
		}
		if code == codes.Unavailable {
			b.unreachable[e.owner] = true
		}
		b.again = append(b.again, e)
	case codes.DeadlineExceeded:
		if b.skip[e.owner] {
			break // one of the timeouts that skipped it, or in flight with them
		}
		stats.pushFailures.Add(1)
		if b.timeouts[e.owner]++; b.timeouts[e.owner] >= pushConcurrency {
			b.skip[e.owner] = true
		}
	case codes.Unimplemented, codes.PermissionDenied:
		if !b.skip[e.owner] { // the pushes in flight to it fail too: one failure
			stats.pushFailures.Add(1)
			b.skip[e.owner] = true
		}
	default:
		stats.pushFailures.Add(1)
	}
}

// ownedBy reports whether id owns key in r.
func ownedBy(r *ring, key, id string) bool {
	o := r.owner(key)
	return o >= 0 && r.members()[o] == id
}
