package testbed

import (
	"context"
	"fmt"
	"slices"
	"time"
)

// A ring, as Pod.Ring and Pod.WaitRing speak of it, is a sorted list of peer ids: each pod's
// PeerID. The helpers here look at the rings of several pods at once.

// RingOf returns the ring that pods make: their peer ids, sorted.
func RingOf(pods ...*Pod) []string {
	ring := make([]string, 0, len(pods))
	for _, p := range pods {
		ring = append(ring, p.PeerID())
	}
	slices.Sort(ring)
	return ring
}

// ByPeerID returns pods by peer id, to turn an owner named in a ring or an answer back into
// its pod.
func ByPeerID(pods []*Pod) map[string]*Pod {
	m := make(map[string]*Pod, len(pods))
	for _, p := range pods {
		m[p.PeerID()] = p
	}
	return m
}

// WaitRings waits until every pod in on holds exactly the ring of members, and returns when
// the last of them got there. It stops at the first pod that does not get there before ctx
// ends or that exits.
func WaitRings(ctx context.Context, on, members []*Pod) (time.Time, error) {
	want := RingOf(members...)
	var last time.Time
	for _, p := range on {
		at, err := p.WaitRing(ctx, want...)
		if err != nil {
			return last, err
		}
		if at.After(last) {
			last = at
		}
	}
	return last, nil
}

// RingMarks remembers how many rings each of some pods had reported, to ask later what came
// after.
type RingMarks struct {
	pods []*Pod
	seen []int
}

// MarkRings marks where each pod's reported rings stand now.
func MarkRings(pods ...*Pod) RingMarks {
	m := RingMarks{pods: slices.Clone(pods), seen: make([]int, len(pods))}
	for i, p := range pods {
		m.seen[i] = len(p.RingChanges())
	}
	return m
}

// Since returns the rings p reported after it was marked; every ring it reported if it was
// not marked.
func (m RingMarks) Since(p *Pod) []RingChange {
	changes := p.RingChanges()
	if i := slices.Index(m.pods, p); i >= 0 {
		return changes[m.seen[i]:]
	}
	return changes
}

// Unchanged returns an error naming the first marked pod, in the order they were marked,
// that reported a ring since.
func (m RingMarks) Unchanged() error {
	for _, p := range m.pods {
		if changes := m.Since(p); len(changes) > 0 {
			return fmt.Errorf("the ring of %s changed: %v", p.Name, changes)
		}
	}
	return nil
}

// Drop is a ring in which a pod left out a peer that its previous ring held while that
// peer's pod was still ready: a transient ring, which moves the peer's keys away and back.
type Drop struct {
	// Pod is whose ring it was; At when it was reported.
	Pod string
	At  time.Time
	// Peer is the peer id left out, PeerPod its pod's name ("" if none of the pods given).
	Peer, PeerPod string
	// Before and After are the ring before and the ring that left Peer out.
	Before, After []string
}

// TransientDrops checks every ring each pod reported after since against the ring it
// reported before it, and returns every peer left out whose pod had not been made not ready
// (or begun its delete, see Pod.ReadinessChanges) after since and before the ring was
// reported. pods must hold every pod that may be in a ring, gone ones too; a peer of none of
// them is reported. Readiness changes before since do not excuse a drop: call it for a span
// that starts with settled rings, and in which no pod turns ready again.
func TransientDrops(pods []*Pod, since time.Time) []Drop {
	byPeer := ByPeerID(pods)
	var drops []Drop
	for _, p := range pods {
		changes := p.RingChanges()
		for i := 1; i < len(changes); i++ {
			before, after := changes[i-1], changes[i]
			if !after.At.After(since) {
				continue
			}
			for _, peer := range before.Peers {
				if slices.Contains(after.Peers, peer) {
					continue
				}
				q := byPeer[peer]
				if q != nil && leftBetween(q, since, after.At) {
					continue
				}
				d := Drop{Pod: p.Name, At: after.At, Peer: peer, Before: before.Peers, After: after.Peers}
				if q != nil {
					d.PeerPod = q.Name
				}
				drops = append(drops, d)
			}
		}
	}
	slices.SortFunc(drops, func(a, b Drop) int { return a.At.Compare(b.At) })
	return drops
}

// leftBetween reports whether p was made not ready, or its delete began, after since and
// before at.
func leftBetween(p *Pod, since, at time.Time) bool {
	for _, c := range p.ReadinessChanges() {
		if !c.Ready && c.At.After(since) && c.At.Before(at) {
			return true
		}
	}
	return false
}
