package k8s

// The ring: the routing table that maps a key to the peer that owns it. Every pod builds
// the same routing table from the same set of peer ids, whatever order the ids arrive in,
// so all pods agree on every key's owner without talking to each other.
//
// Design: a fixed table of tableSize slots holds a peer index per slot, and a lookup is
// one hash and one array read: table[fastrange(xxhash64(key), tableSize)]. The table is
// filled by consistent hashing with bounded loads (Mirrokni, Thorup and Zadimoghaddam,
// "Consistent Hashing with Bounded Loads", SODA 2018, arXiv 1608.01350), applied once per
// membership change to the slots rather than to live request counts:
//
//   - Each peer places vnodesPerPeer points on a 64-bit ring. Point v lies in the v-th of
//     vnodesPerPeer equal segments of the ring (its top bits are v), at an offset taken
//     from output v of SplitMix64 seeded with xxhash64(id). The vnode index is mixed in
//     numerically, never by string concatenation, so no two (id, vnode) pairs share an
//     encoding.
//   - Slot s covers the ring range that fastrange maps to s. The table gives owners to
//     whole slots, not keys, so the ring is kept at slot resolution: one point per slot,
//     the lowest in its range (equal points go to the id that sorts first). That takes
//     one pass over the points and no sort, which keeps a rebuild cheap even at 1000 peers
//     (BENCHMARKS.md, "Picking a peer", times it).
//   - Slots are visited in a fixed order. Each takes the peer of the first point at or
//     after it that belongs to a peer with fewer than capacity slots, where capacity is
//     ⌊loadFactorPercent/100 · tableSize/N⌋. No peer owns more than 1.05 times its fair
//     share, exactly.
//
// Why these choices (measured on random "10.a.b.c:8080" peer sets; bench/quality_test.go
// measures the same next to groupcache's consistenthash):
//
//   - A plain ring needs thousands of vnodes per peer to stay within 1.05 of the fair
//     share. The load cap gives that bound for any ring; the vnodes only decide how often
//     the cap has to act.
//   - When a peer joins or leaves, keys move to or from that peer only, except where the
//     cap acts: a peer over its cap spills its last slots to the next points' peers, and
//     the spill changes with the membership. With 160 vnodes per peer those spurious
//     moves, between two peers that both stay, reached 1.2 % of all keys at N = 3 and 10.
//     With 2048 vnodes, one per segment, the natural shares at small N rarely reach the
//     cap: over 600 random sets at each N from 2 to 20 and at 100, one leave and one
//     join each, the worst case was 0.36 % of keys and the mean under 0.03 %. One point
//     per segment rather than uniformly random points cuts the spread of a peer's
//     natural share by 10-23 % at N = 2 to 4, where the worst cases were. At 1000 peers
//     a peer owns only about 65 slots, slot granularity rather than vnodes sets the
//     spread, and spurious moves stay near 0.1 % (worst 0.19 %).
//   - Visiting slots by a golden-ratio stride rather than in index order spreads each
//     capped peer's kept slots around the ring instead of keeping its first ones; at 1000
//     peers it cut spurious moves from about 0.14 % to 0.10 % of keys.
//   - Placement uses integers only: no floating point, no per-process seed (hash/maphash
//     is seeded per process), no dependence on input order.

import (
	"fmt"
	"math/bits"
	"slices"
	"sync"

	"github.com/cespare/xxhash/v2"
)

const (
	// pickerVersion names the placement algorithm and its constants. Every pod of a
	// Service must run the same version: changing tableSize, vnodesPerPeer,
	// loadFactorPercent, slotStride, the hash or the point derivation changes the owner
	// of most keys cluster-wide. Bump it, and regenerate testdata/picker_golden.txt, when
	// any of them changes.
	pickerVersion = 1

	// tableSize is the number of slots in the routing table (a prime). It must not depend
	// on the number of peers: resizing the table reshuffles almost every key.
	tableSize = 65537

	// vnodeBits sets the number of ring points per peer, vnodesPerPeer = 2^vnodeBits: the
	// top vnodeBits bits of a point are its vnode index. Enough points that at small N the
	// natural shares rarely reach the load cap (which is what moves keys between peers
	// that both stay), few enough that a rebuild at 1000 peers stays within its goal in
	// BENCHMARKS.md ("Picking a peer", the rebuild).
	vnodeBits     = 11
	vnodesPerPeer = 1 << vnodeBits

	// loadFactorPercent caps the slots one peer may own at this percentage of the fair
	// share tableSize/N, rounded down.
	loadFactorPercent = 105

	// maxPeers is the most peers a ring accepts. Up to this size the rounded-down cap,
	// times N, still covers every slot, so the cap always holds; beyond it each peer
	// owns fewer than 20 slots and a 1.05 bound cannot be kept.
	maxPeers = tableSize * (loadFactorPercent - 100) / 100 // 3276

	// slotStride is the step of the fixed order in which slots are filled: slot
	// i·slotStride mod tableSize at step i. Any step in [1, tableSize) visits every slot
	// once because tableSize is prime; this one is tableSize divided by the golden
	// ratio, so consecutive steps land far apart.
	slotStride = 40503

	// noPoint marks a slot whose ring range holds no point. A real point never equals
	// it because its low 16 bits hold a member index below maxPeers.
	noPoint = ^uint64(0)
)

// ring is an immutable routing table from keys to peer ids. It is safe for concurrent
// use.
type ring struct {
	ids   []string // canonical peer ids: distinct, byte-sorted
	table []uint16 // tableSize slots, each an index into ids; nil when ids is empty
}

// newRing builds the routing table for a set of peer ids. Duplicates and order do not
// matter: two calls with the same set give identical rings. An empty id, or more than
// maxPeers distinct ids, is an error. An empty set is valid and gives a ring that owns
// nothing.
func newRing(ids []string) (*ring, error) {
	for i, id := range ids {
		if id == "" {
			return nil, fmt.Errorf("peer id %d of %d is empty: every peer needs a non-empty id, such as its pod IP and port", i, len(ids))
		}
	}
	members := slices.Clone(ids)
	slices.Sort(members)
	members = slices.Compact(members)
	if len(members) > maxPeers {
		return nil, fmt.Errorf("%d peers is more than the %d a routing table of %d slots can balance: split the peers across Services of at most %d pods", len(members), maxPeers, tableSize, maxPeers)
	}
	if len(members) == 0 {
		return &ring{}, nil
	}
	return &ring{ids: members, table: fillTable(members)}, nil
}

// owner returns the index in r.members() of the peer that owns key, or -1 if the ring is
// empty. It does not allocate or lock.
func (r *ring) owner(key string) int {
	if r.table == nil {
		return -1
	}
	slot, _ := bits.Mul64(xxhash.Sum64String(key), tableSize)
	return int(r.table[slot])
}

// members returns the canonical peer ids, byte-sorted. The slice is shared: callers must
// not modify it.
func (r *ring) members() []string {
	return r.ids
}

// fillTable assigns every slot to one of members (canonical, 1 to maxPeers ids).
func fillTable(members []string) []uint16 {
	n := len(members)

	// lowest[s] is the lowest ring point in slot s's range: the point's offset within the
	// range in the high 48 bits and its member index in the low 16, so that equal offsets
	// go to the id that sorts first.
	scratch := scratchPool.Get().(*tableScratch)
	defer scratchPool.Put(scratch)
	lowest, next := scratch.lowest, scratch.next
	for s := range lowest {
		lowest[s] = noPoint
	}
	for i, id := range members {
		seed := xxhash.Sum64String(id)
		for v := range uint64(vnodesPerPeer) {
			point := v<<(64-vnodeBits) | splitMix64(seed, v)>>vnodeBits
			slot, offset := bits.Mul64(point, tableSize)
			// A branch here mispredicts often; min compiles to a conditional move.
			lowest[slot] = min(lowest[slot], offset&^0xffff|uint64(i))
		}
	}

	// next[s] leads, link by link, to the first slot at or after s (wrapping) whose
	// lowest point still belongs to a peer below capacity; it links to itself when s is
	// such a slot. Links only skip dead slots, so the walk can shortcut them (path
	// halving, as in union-find), and filling the table costs about one step per slot.
	owners := make([]bool, n) // members with at least one point left
	haveOwners := 0
	for s, p := range lowest {
		if p == noPoint {
			next[s] = int32((s + 1) % tableSize)
			continue
		}
		next[s] = int32(s)
		if i := p & 0xffff; !owners[i] {
			owners[i] = true
			haveOwners++
		}
	}

	// With n ≤ maxPeers, n·capacity ≥ tableSize. If some members have no point left (two
	// ids with the same xxhash64, say), the cap is raised so that the members that do can
	// still take every slot; either way the walk below always ends.
	capacity := int32(tableSize * loadFactorPercent / (100 * n))
	if need := int32((tableSize + haveOwners - 1) / haveOwners); capacity < need {
		capacity = need
	}

	load := make([]int32, n)
	table := make([]uint16, tableSize)
	s := int32(0)
	for range tableSize {
		t := s
		for {
			for next[t] != t {
				next[t] = next[next[t]]
				t = next[t]
			}
			if load[lowest[t]&0xffff] < capacity {
				break
			}
			next[t] = (t + 1) % tableSize // this point's peer is full for good
		}
		i := uint16(lowest[t] & 0xffff)
		table[s] = i
		load[i]++
		if s += slotStride; s >= tableSize {
			s -= tableSize
		}
	}
	return table
}

// tableScratch is fillTable's working memory, reused across builds: the table is
// rebuilt at every membership change, and allocating and clearing these 768 KiB each time
// cost about as much as filling them.
type tableScratch struct {
	lowest []uint64 // tableSize
	next   []int32  // tableSize
}

var scratchPool = sync.Pool{New: func() any {
	return &tableScratch{lowest: make([]uint64, tableSize), next: make([]int32, tableSize)}
}}

// splitMix64 returns output v of the SplitMix64 generator seeded with seed (Steele,
// Lea and Flood, "Fast Splittable Pseudorandom Number Generators", OOPSLA 2014).
func splitMix64(seed, v uint64) uint64 {
	z := seed + (v+1)*0x9e3779b97f4a7c15
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}
