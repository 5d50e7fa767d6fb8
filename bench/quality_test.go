package bench

// TestPickerQuality measures how evenly each picker spreads keys and how many keys move
// when one peer leaves or joins, ours on a live k8s.PeersManager (membership changes
// arrive as watch events) and groupcache's consistenthash (crc32, 50 replicas, the ring
// inside HTTPPool) over the same peer ids. It logs a table and, when BENCH_QUALITY_OUT
// names a file, writes the figures there as JSON for the report.
//
// Two kinds of figures:
//   - sampled: owners of 1,048,576 keys. At 1000 peers a peer gets about 1000 of them,
//     so the busiest one reads some 10 % above its true share from sampling noise alone.
//   - exact: ours counts the routing table's slots, through PickPeer on one probe key per
//     slot (slotOf below mirrors the documented lookup, xxhash64 and fastrange onto 65537
//     slots; the test checks it against PickPeer on the sampled keys and reports no exact
//     figure if they ever disagree). consistenthash sums the arcs of its crc32 ring.
//
// Moves count keys whose owner changed, as a multiple of the ideal 1/N, and the
// spurious ones: keys that moved between two peers that both stayed, in % of all keys.

import (
	"context"
	"encoding/json"
	"hash/crc32"
	"math/bits"
	"math/rand/v2"
	"os"
	"slices"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/golang/groupcache"
	"github.com/golang/groupcache/consistenthash"
)

// tableSize is the number of slots in our routing table (picker.go).
const tableSize = 65537

// qualityTrials is how many random leaves and joins are measured at each size.
const qualityTrials = 4

// Quality is one size's figures; the report reads them from JSON.
type Quality struct {
	N                int
	Exact            bool    // the exact figures of ours are valid
	BusiestOursExact float64 // busiest peer's share / fair share
	BusiestOursKeys  float64
	BusiestCHExact   float64
	BusiestCHKeys    float64
	Leave, Join      Moves
}

// Moves summarises qualityTrials membership changes of one kind.
type Moves struct {
	OursMovedN, CHMovedN       float64 // mean moved keys × N
	OursSpurious, CHSpurious   float64 // worst spurious moves, % of all keys
	OursSpuriousMean           float64
	OursMovedNMax, CHMovedNMax float64
}

func TestPickerQuality(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a 1000-peer manager")
	}
	keys := testKeys(1 << 20)
	probes := slotProbes()
	var out []Quality
	t.Logf("%-5s | %-31s | %-27s | %-27s", "", "busiest/fair", "leave: moved×N, spurious %", "join: moved×N, spurious %")
	t.Logf("%-5s | %-7s %-7s %-7s %-7s | %-13s %-13s | %-13s %-13s", "N", "ours", "sampled", "CH", "sampled", "ours", "CH", "ours", "CH")
	for _, n := range pickerSizes {
		q := measureQuality(t, n, keys, probes)
		out = append(out, q)
		t.Logf("%-5d | %-7.4f %-7.4f %-7.4f %-7.4f | %5.2f %6.3f%% %5.2f %6.3f%% | %5.2f %6.3f%% %5.2f %6.3f%%", n,
			q.BusiestOursExact, q.BusiestOursKeys, q.BusiestCHExact, q.BusiestCHKeys,
			q.Leave.OursMovedN, q.Leave.OursSpurious, q.Leave.CHMovedN, q.Leave.CHSpurious,
			q.Join.OursMovedN, q.Join.OursSpurious, q.Join.CHMovedN, q.Join.CHSpurious)
		if !q.Exact {
			t.Errorf("N=%d: PickPeer disagrees with the slot model; exact figures are not available", n)
		}
	}
	if path := os.Getenv("BENCH_QUALITY_OUT"); path != "" {
		data, err := json.MarshalIndent(out, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// slotOf is the slot of our routing table that key falls in.
func slotOf(key string) int {
	slot, _ := bits.Mul64(xxhash.Sum64String(key), tableSize)
	return int(slot)
}

// slotProbes returns one key per slot.
func slotProbes() []string {
	probes := make([]string, tableSize)
	left := tableSize
	for i := 0; left > 0; i++ {
		k := "probe:" + strconv.Itoa(i)
		if s := slotOf(k); probes[s] == "" {
			probes[s] = k
			left--
		}
	}
	return probes
}

// owners returns the getter PickPeer gives for each key; nil stands for self.
func owners(m *pickerManager, keys []string) []groupcache.ProtoGetter {
	out := make([]groupcache.ProtoGetter, len(keys))
	for i, k := range keys {
		out[i], _ = m.PickPeer(k)
	}
	return out
}

// busiest returns the largest number of keys one owner has, over the fair share.
func busiest[T comparable](owners []T, n int) float64 {
	counts := make(map[T]int)
	for _, o := range owners {
		counts[o]++
	}
	most := 0
	for _, c := range counts {
		most = max(most, c)
	}
	return float64(most) * float64(n) / float64(len(owners))
}

func measureQuality(t *testing.T, n int, keys, probes []string) Quality {
	ips := peerIPs(n)
	m, err := newPickerManager(ips)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	q := Quality{N: n, Exact: true}

	before := owners(m, probes)
	sampled := owners(m, keys)
	for i, k := range keys {
		if sampled[i] != before[slotOf(k)] {
			q.Exact = false
			break
		}
	}
	q.BusiestOursExact = busiest(before, n)
	q.BusiestOursKeys = busiest(sampled, n)

	ids := peerIDs(ips)
	ch := newCHRing(ids)
	shares := make(map[string]uint64)
	chArcs(ch, ch, func(size uint64, owner, _ string) { shares[owner] += size })
	var most uint64
	for _, s := range shares {
		most = max(most, s)
	}
	q.BusiestCHExact = float64(most) * float64(n) / (1 << 32)
	ring := consistenthash.New(50, nil)
	ring.Add(ids...)
	chSampled := make([]string, len(keys))
	for i, k := range keys {
		chSampled[i] = ring.Get(k)
	}
	q.BusiestCHKeys = busiest(chSampled, n)

	r := rand.New(rand.NewPCG(uint64(n), 3))
	for range qualityTrials {
		// A random peer other than self leaves, then comes back.
		gone := 1 + r.IntN(n-1)
		slice := gone / endpointsPerSlice
		members := ips[slice*endpointsPerSlice : min((slice+1)*endpointsPerSlice, n)]
		after := slices.DeleteFunc(slices.Clone(members), func(ip string) bool { return ip == ips[gone] })
		changed := changeAndMeasure(t, m, slice, after, members, probes, before)
		afterIDs := peerIDs(slices.DeleteFunc(slices.Clone(ips), func(ip string) bool { return ip == ips[gone] }))
		addMoves(&q.Leave, changed, chMoves(ch, newCHRing(afterIDs), ids[gone], n))

		// A new peer joins the last slice, then leaves again.
		joined := randomLoopback(r)
		for slices.Contains(ips, joined) {
			joined = randomLoopback(r)
		}
		last := (n - 1) / endpointsPerSlice
		members = ips[last*endpointsPerSlice:]
		changed = changeAndMeasure(t, m, last, append(slices.Clone(members), joined), members, probes, before)
		joinedID := peerIDs([]string{joined})[0]
		addMoves(&q.Join, changed, chMoves(ch, newCHRing(append(slices.Clone(ids), joinedID)), joinedID, n+1))
	}
	for _, mv := range []*Moves{&q.Leave, &q.Join} {
		mv.OursMovedN /= qualityTrials
		mv.CHMovedN /= qualityTrials
		mv.OursSpuriousMean /= qualityTrials
	}
	return q
}

// moveCount is one change's moved × N and spurious %.
type moveCount struct{ movedN, spurious float64 }

func addMoves(m *Moves, ours, ch moveCount) {
	m.OursMovedN += ours.movedN
	m.CHMovedN += ch.movedN
	m.OursMovedNMax = max(m.OursMovedNMax, ours.movedN)
	m.CHMovedNMax = max(m.CHMovedNMax, ch.movedN)
	m.OursSpurious = max(m.OursSpurious, ours.spurious)
	m.CHSpurious = max(m.CHSpurious, ch.spurious)
	m.OursSpuriousMean += ours.spurious
}

// changeAndMeasure replaces slice index of m's Service with ips, measures the moves of
// the probe keys against before, and restores the slice to restore. Peers are told apart
// by their getters: the one that appears (or disappears) is the peer that joined (or
// left).
func changeAndMeasure(t *testing.T, m *pickerManager, index int, ips, restore, probes []string,
	before []groupcache.ProtoGetter) moveCount {
	t.Helper()
	setSlice(t, m, index, ips)
	after := owners(m, probes)
	setSlice(t, m, index, restore)
	if got := owners(m, probes); !slices.Equal(got, before) {
		t.Fatalf("restoring slice %d did not restore the ring", index)
	}
	present := func(os []groupcache.ProtoGetter) map[groupcache.ProtoGetter]bool {
		set := make(map[groupcache.ProtoGetter]bool)
		for _, o := range os {
			set[o] = true
		}
		return set
	}
	inBefore, inAfter := present(before), present(after)
	changed := map[groupcache.ProtoGetter]bool{}
	for o := range inBefore {
		if !inAfter[o] {
			changed[o] = true
		}
	}
	for o := range inAfter {
		if !inBefore[o] {
			changed[o] = true
		}
	}
	if len(changed) != 1 {
		t.Fatalf("%d peers appeared or disappeared, want 1", len(changed))
	}
	moved, spurious := 0, 0
	for i := range probes {
		if before[i] == after[i] {
			continue
		}
		moved++
		if !changed[before[i]] && !changed[after[i]] {
			spurious++
		}
	}
	n := max(len(inBefore), len(inAfter))
	return moveCount{movedN: float64(moved) * float64(n) / tableSize, spurious: 100 * float64(spurious) / tableSize}
}

// setSlice sends a MODIFIED event for slice index and waits for the ring to change.
func setSlice(t *testing.T, m *pickerManager, index int, ips []string) {
	t.Helper()
	frame := modifiedFrame(index, ips, int(m.Stats().WatchEvents)+100)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := m.change(ctx, frame); err != nil {
		t.Fatal(err)
	}
}

// chRing replicates the placement of groupcache's consistenthash with its defaults (50
// replicas, crc32 of strconv.Itoa(i)+peer, the last writer winning a shared point), so
// that its shares can be computed exactly from the arcs. (The same as the root's
// picker_test.go.)
type chRing struct {
	points []uint32 // sorted, distinct
	owner  map[uint32]string
}

func newCHRing(peers []string) chRing {
	r := chRing{owner: make(map[uint32]string)}
	for _, p := range peers {
		for i := range 50 {
			h := crc32.ChecksumIEEE([]byte(strconv.Itoa(i) + p))
			if _, dup := r.owner[h]; !dup {
				r.points = append(r.points, h)
			}
			r.owner[h] = p
		}
	}
	slices.Sort(r.points)
	return r
}

// ownerOf returns the owner of a key whose hash is h: the first point at or after h.
func (r chRing) ownerOf(h uint32) string {
	i := sort.Search(len(r.points), func(i int) bool { return r.points[i] >= h })
	if i == len(r.points) {
		i = 0
	}
	return r.owner[r.points[i]]
}

// chArcs calls fn for each run of hashes between consecutive points of a and b, with the
// run's size and its owner in each ring. The runs cover all 2³² hashes.
func chArcs(a, b chRing, fn func(size uint64, ownerA, ownerB string)) {
	cuts := slices.Compact(slices.Sorted(slices.Values(append(slices.Clone(a.points), b.points...))))
	for i, c := range cuts {
		size := uint64(c) - uint64(cuts[max(i-1, 0)])
		if i == 0 {
			size = uint64(c) + 1<<32 - uint64(cuts[len(cuts)-1]) // wraps around zero
		}
		fn(size, a.ownerOf(c), b.ownerOf(c))
	}
}

// chMoves is the exact moved × n and spurious % of keys between two consistenthash rings
// that differ by the peer changed.
func chMoves(before, after chRing, changed string, n int) moveCount {
	var moved, spurious uint64
	chArcs(before, after, func(size uint64, from, to string) {
		if from != to {
			moved += size
			if from != changed && to != changed {
				spurious += size
			}
		}
	})
	return moveCount{movedN: float64(moved) * float64(n) / (1 << 32), spurious: 100 * float64(spurious) / (1 << 32)}
}
