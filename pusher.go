package k8s

// The pusher: when the ring changes, this pod hands the entries it holds whose keys it
// no longer owns to their new owners, and when it shuts down while still in its ring, it
// hands every entry it holds to the owners in the ring without it. It does not wait for
// anyone to ask: the peek (handoff.go) finds only what the new owner is asked for while
// the previous owner lives, and hot keys answered from other pods' hot caches, or keys
// asked once in minutes, are asked after it is gone. The receiving side is push.go.

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/golang/groupcache"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// The pusher's budget. One pod pushes one entry at a time, at most pushRate bytes a
// second and pushBudget bytes per change: a rolling update replaces pods one by one, and
// the pushes of one change must neither saturate a pod's network (a gigabit link carries
// about 110 MiB/s; a quarter of it leaves the rest to serving) nor outlast it (a 64 MiB
// cache goes in about 2 s; pushBudget covers a cache four times that, and what the budget
// does not cover the peek still finds while the previous owner lives).
const (
	pushRate    = 32 << 20
	pushBudget  = 256 << 20
	pushTimeout = 2 * time.Second // one push; a peer that takes longer is skipped for the change
)

// entryPusher is a peer client that can push (peerclient.go, push.go).
type entryPusher interface {
	Push(ctx context.Context, group, key string, value []byte) error
}

// pushJob is the work of one change: the entries whose key self owns in from and not in
// to go to their owners in to; with from nil, every entry self holds does.
type pushJob struct {
	from, to *ring
}

// pusher runs the push jobs of a manager, one at a time, from a goroutine of its own; a
// newer job ends the one running (the entries it has not pushed yet are the newer job's
// to push if they moved again, and the peek's otherwise).
type pusher struct {
	self    string
	groups  func() map[string]*keyLog // the groups made by NewGroup of this manager, by name
	clients func() map[string]peerGetter
	cfg     *config
	stats   *counters

	mu   sync.Mutex
	next *pushJob
	idle chan struct{} // closed while no job runs or waits
	wake chan struct{}
}

func newPusher(self string, cfg *config, stats *counters, groups func() map[string]*keyLog,
	clients func() map[string]peerGetter) *pusher {
	p := &pusher{self: self, groups: groups, clients: clients, cfg: cfg, stats: stats,
		idle: make(chan struct{}), wake: make(chan struct{}, 1)}
	close(p.idle)
	return p
}

// submit makes j the next job, in place of any job waiting, and ends the one running.
func (p *pusher) submit(j pushJob) {
	p.mu.Lock()
	p.next = &j
	select {
	case <-p.idle:
		p.idle = make(chan struct{})
	default:
	}
	p.mu.Unlock()
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// newer reports whether a job waits.
func (p *pusher) newer() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.next != nil
}

// idleNow reports whether no job runs or waits.
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

// waitIdle waits until no job runs or waits, or ctx ends.
func (p *pusher) waitIdle(ctx context.Context) {
	p.mu.Lock()
	idle := p.idle
	p.mu.Unlock()
	select {
	case <-idle:
	case <-ctx.Done():
	}
}

// run runs the jobs until ctx ends.
func (p *pusher) run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-p.wake:
		}
		for {
			p.mu.Lock()
			j := p.next
			p.next = nil
			if j == nil {
				select {
				case <-p.idle: // a wake left over from a job the loop took already
				default:
					close(p.idle)
				}
				p.mu.Unlock()
				break
			}
			p.mu.Unlock()
			p.push(ctx, *j)
		}
	}
}

// push pushes j's entries until they are done, the budget is spent, a newer job waits,
// or ctx ends.
func (p *pusher) push(ctx context.Context, j pushJob) {
	start := time.Now()
	defer func() { p.stats.pushNanos.Add(int64(time.Since(start))) }()
	clients := p.clients()
	skip := map[string]bool{} // peers that do not know pushes, or did not answer one in time
	budget := int64(pushBudget)
	due := time.Now() // when the rate allows the next push; real time, whatever the manager's clock
	var again []retry // entries whose owner had not seen the change yet
	members := j.to.members()
	groups := p.groups()
	names := make([]string, 0, len(groups))
	for name := range groups {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		g := groupcache.GetGroup(name)
		for _, key := range groups[name].keys() {
			if ctx.Err() != nil || p.newer() || budget <= 0 {
				return
			}
			if j.from != nil && !ownedBy(j.from, key, p.self) {
				continue
			}
			o := j.to.owner(key)
			if o < 0 || members[o] == p.self || skip[members[o]] {
				continue
			}
			to, ok := clients[members[o]].(entryPusher)
			if !ok {
				continue
			}
			value, ok := cachedValue(g, key)
			if !ok {
				continue // evicted since it was loaded
			}
			r := retry{to: to, owner: members[o], group: name, key: key, value: value}
			if !p.send(ctx, r, &due, &budget, skip) {
				again = append(again, r)
			}
		}
	}
	if len(again) == 0 {
		return
	}
	select { // let the owners catch up with the change, then try once more
	case <-time.After(pushRetryAfter):
	case <-ctx.Done():
		return
	}
	for _, r := range again {
		if ctx.Err() != nil || p.newer() || budget <= 0 {
			return
		}
		if !skip[r.owner] && !p.send(ctx, r, &due, &budget, skip) {
			p.stats.pushFailures.Add(1)
		}
	}
}

// pushRetryAfter is how long the pusher waits before it pushes again the entries whose
// new owner had not seen the change yet: the same watch event reaches every pod within
// tens of milliseconds.
const pushRetryAfter = 250 * time.Millisecond

// retry is an entry to push, and its new owner.
type retry struct {
	to         entryPusher
	owner      string
	group, key string
	value      []byte
}

// send pushes r when the rate allows, and reports false if the owner answered that it
// does not own the key yet; other failures are counted, and skip the owner for the rest
// of the job when it does not know pushes or does not answer.
func (p *pusher) send(ctx context.Context, r retry, due *time.Time, budget *int64, skip map[string]bool) bool {
	if wait := time.Until(*due); wait > 0 {
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return true
		}
	}
	pctx, cancel := context.WithTimeout(ctx, pushTimeout)
	err := r.to.Push(pctx, r.group, r.key, r.value)
	cancel()
	*due = later(*due, time.Now()).Add(time.Duration(len(r.value)) * time.Second / pushRate)
	*budget -= int64(len(r.value))
	switch code := status.Code(err); code {
	case codes.OK:
		p.stats.pushesSent.Add(1)
		p.stats.pushedBytesSent.Add(int64(len(r.value)))
	case codes.FailedPrecondition:
		return false
	case codes.Unimplemented, codes.DeadlineExceeded, codes.Unavailable, codes.PermissionDenied:
		p.stats.pushFailures.Add(1)
		skip[r.owner] = true
	default:
		p.stats.pushFailures.Add(1)
	}
	return true
}

// ownedBy reports whether id owns key in r.
func ownedBy(r *ring, key, id string) bool {
	o := r.owner(key)
	return o >= 0 && r.members()[o] == id
}
