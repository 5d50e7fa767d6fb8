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
