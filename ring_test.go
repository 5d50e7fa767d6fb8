package k8s

// Tests of the ring: placement pinned by a golden file, independence from input order,
// balance and movement within their bounds, bad input, and fuzzing. Balance and
// movement next to groupcache's consistenthash are measured in the bench module.

import (
	"bufio"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
)

var updateGolden = flag.Bool("update", false, "rewrite testdata/picker_golden.txt from the current picker")

// pickerSizes are the cluster sizes the picker's goals are stated for.
var pickerSizes = []int{3, 10, 100, 1000}

// testPeers returns n distinct Kubernetes-style endpoints, byte-sorted, the same for the
// same seed.
func testPeers(n int, seed uint64) []string {
	r := rand.New(rand.NewPCG(seed, uint64(n)))
	seen := make(map[string]bool, n)
	ids := make([]string, 0, n)
	for len(ids) < n {
		id := randomPeer(r)
		if !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}

func randomPeer(r *rand.Rand) string {
	return fmt.Sprintf("10.%d.%d.%d:8080", r.IntN(256), r.IntN(256), r.IntN(256))
}

// testKeys returns n realistic cache keys of 20 to 32 bytes, the same on every call.
func testKeys(n int) []string {
	kinds := []string{"cart", "profile", "avatar:v2", "settings:v11"}
	r := rand.New(rand.NewPCG(42, 42))
	keys := make([]string, n)
	for i := range keys {
		keys[i] = fmt.Sprintf("user:%010d:%s", r.Uint64N(1e10), kinds[i%len(kinds)])
	}
	return keys
}

func mustRing(t testing.TB, ids []string) *ring {
	t.Helper()
	r, err := newRing(ids)
	if err != nil {
		t.Fatalf("newRing(%d ids): %v", len(ids), err)
	}
	return r
}

// slotCounts returns how many table slots each member owns.
func slotCounts(r *ring) []int {
	counts := make([]int, len(r.members()))
	for _, i := range r.table {
		counts[i]++
	}
	return counts
}

// peakShare is the busiest member's load divided by the fair share total/n.
func peakShare(counts []int, total float64) float64 {
	return float64(slices.Max(counts)) * float64(len(counts)) / total
}

// slotMoves compares the owners of every slot in two rings whose members differ by the
// peer changed. moved counts slots whose owner changed; spurious counts those that moved
// between two peers that are members of both rings.
func slotMoves(before, after *ring, changed string) (moved, spurious int) {
	for s := range tableSize {
		from, to := before.ids[before.table[s]], after.ids[after.table[s]]
		if from == to {
			continue
		}
		moved++
		if from != changed && to != changed {
			spurious++
		}
	}
	return moved, spurious
}

// A change of membership: the peer set before and after, and the peer that left or
// joined.
type membershipChange struct {
	name          string
	before, after []string
	changed       string
}

// changesAt returns leave and join changes on a fixed random set of n peers.
func changesAt(n int) []membershipChange {
	base := testPeers(n, 7)
	r := rand.New(rand.NewPCG(uint64(n), 11))
	var changes []membershipChange
	for trial := range 2 {
		gone := base[r.IntN(n)]
		changes = append(changes, membershipChange{
			name:    fmt.Sprintf("leave%d", trial),
			before:  base,
			after:   slices.DeleteFunc(slices.Clone(base), func(id string) bool { return id == gone }),
			changed: gone,
		})
		joined := randomPeer(r)
		for slices.Contains(base, joined) {
			joined = randomPeer(r)
		}
		changes = append(changes, membershipChange{
			name:    fmt.Sprintf("join%d", trial),
			before:  base,
			after:   append(slices.Clone(base), joined),
			changed: joined,
		})
	}
	return changes
}

const goldenPath = "testdata/picker_golden.txt"

// goldenInput is the fixed peer set and the keys whose owners the golden file pins.
func goldenInput() (peers, keys []string) {
	peers = testPeers(10, 2024)
	keys = append(testKeys(990),
		"", "a", "\x00", "\xff\xfe\xfd", "ключ", "日本語のキー",
		strings.Repeat("k", 1000), "user:0000000000:profile", "10.0.0.1:8080", "\n")
	return peers, keys
}

// TestRingGolden pins the owners of fixed keys for a fixed peer set. A failure means that
// pods running this code would disagree with pods running the previous release about who
// owns a key: bump pickerVersion, then regenerate with go test -run TestRingGolden -update.
func TestRingGolden(t *testing.T) {
	if *updateGolden {
		peers, keys := goldenInput()
		r := mustRing(t, peers)
		var b strings.Builder
		fmt.Fprintf(&b, "# Owners pinned by TestRingGolden. pickerVersion %d\n", pickerVersion)
		fmt.Fprintf(&b, "# Lines: \"peer <id>\", then \"<quoted key> <owner id>\".\n")
		for _, id := range peers {
			fmt.Fprintf(&b, "peer %s\n", id)
		}
		for _, k := range keys {
			fmt.Fprintf(&b, "%s %s\n", strconv.Quote(k), r.members()[r.owner(k)])
		}
		if err := os.MkdirAll(filepath.Dir(goldenPath), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(goldenPath, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}

	f, err := os.Open(goldenPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var (
		peers   []string
		version = -1
		cases   [][2]string // key, owner
	)
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "#"):
			if i := strings.Index(line, "pickerVersion "); i >= 0 {
				version, _ = strconv.Atoi(line[i+len("pickerVersion "):])
			}
		case strings.HasPrefix(line, "peer "):
			peers = append(peers, strings.TrimPrefix(line, "peer "))
		default:
			quoted, err := strconv.QuotedPrefix(line)
			if err != nil {
				t.Fatalf("golden line %q: %v", line, err)
			}
			key, _ := strconv.Unquote(quoted)
			cases = append(cases, [2]string{key, strings.TrimPrefix(line[len(quoted):], " ")})
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if version != pickerVersion {
		t.Fatalf("%s was written by pickerVersion %d, the code is version %d: regenerate it with -update", goldenPath, version, pickerVersion)
	}
	if len(peers) != 10 || len(cases) < 1000 {
		t.Fatalf("%s holds %d peers and %d keys, want 10 and at least 1000", goldenPath, len(peers), len(cases))
	}

	r := mustRing(t, peers)
	wrong := 0
	for _, c := range cases {
		if got := r.members()[r.owner(c[0])]; got != c[1] {
			if wrong++; wrong <= 5 {
				t.Errorf("owner(%q) = %s, golden file says %s", c[0], got, c[1])
			}
		}
	}
	if wrong > 0 {
		t.Errorf("%d of %d golden owners changed: the placement algorithm changed; bump pickerVersion and run with -update", wrong, len(cases))
	}
}

// TestRingIgnoresInputOrder checks that shuffled input with duplicates always gives the
// same members and the same table: pods receive endpoints in no particular order.
func TestRingIgnoresInputOrder(t *testing.T) {
	ids := testPeers(100, 3)
	want := mustRing(t, ids)
	rng := rand.New(rand.NewPCG(5, 5))
	for i := range 100 {
		input := append(slices.Clone(ids), ids[:1+rng.IntN(20)]...) // duplicates
		rng.Shuffle(len(input), func(a, b int) { input[a], input[b] = input[b], input[a] })
		got := mustRing(t, input)
		if !slices.Equal(got.members(), want.members()) {
			t.Fatalf("shuffle %d: members differ from sorted input", i)
		}
		if !slices.Equal(got.table, want.table) {
			t.Fatalf("shuffle %d: table differs from sorted input", i)
		}
	}
	if !slices.IsSorted(want.members()) || len(want.members()) != len(ids) {
		t.Fatalf("members() = %d ids, sorted %v; want the %d distinct ids sorted", len(want.members()), slices.IsSorted(want.members()), len(ids))
	}
}

// TestRingSameAfterOtherBuilds: the working memory fillTable reuses leaves nothing behind.
// Every ring is built fresh once, then again, concurrently, after and between builds of
// rings of other sizes; each rebuild must equal its fresh table slot for slot.
func TestRingSameAfterOtherBuilds(t *testing.T) {
	sizes := []int{1, 2, 3, 10, 150, 1000}
	fresh := map[int][]uint16{}
	for _, n := range sizes {
		fresh[n] = fillTable(testPeers(n, 7))
	}
	var wg sync.WaitGroup
	for range 4 {
		for _, n := range slices.Backward(sizes) {
			wg.Go(func() {
				if got := fillTable(testPeers(n, 7)); !slices.Equal(got, fresh[n]) {
					t.Errorf("N=%d: the table rebuilt after other builds differs from the one built first", n)
				}
			})
		}
	}
	wg.Wait()
}

// TestRingBalance checks exactly, on table slots, that no peer owns more than 1.05 times
// its fair share, and that every peer owns some keys.
func TestRingBalance(t *testing.T) {
	for _, n := range pickerSizes {
		t.Run(fmt.Sprintf("N=%d", n), func(t *testing.T) {
			r := mustRing(t, testPeers(n, 1))
			counts := slotCounts(r)
			peak := peakShare(counts, tableSize)
			t.Logf("peak/fair %.4f, least/fair %.4f", peak, float64(slices.Min(counts))*float64(n)/tableSize)
			if peak > 1.05 {
				t.Errorf("busiest peer owns %d slots = %.4f × fair share, want ≤ 1.05", slices.Max(counts), peak)
			}
			if slices.Min(counts) == 0 {
				t.Errorf("a peer owns no slot")
			}
		})
	}
}

// TestRingMovement checks that when one peer leaves or joins, keys move only to or from
// that peer, apart from at most 0.5 % of all keys (counted exactly on slots).
func TestRingMovement(t *testing.T) {
	for _, n := range pickerSizes {
		before := mustRing(t, testPeers(n, 7))
		for _, c := range changesAt(n) {
			t.Run(fmt.Sprintf("N=%d/%s", n, c.name), func(t *testing.T) {
				moved, spurious := slotMoves(before, mustRing(t, c.after), c.changed)
				t.Logf("moved %.3f × 1/N, spurious %.3f %% of keys", float64(moved)*float64(max(len(c.before), len(c.after)))/tableSize, 100*float64(spurious)/tableSize)
				if float64(spurious) > 0.005*tableSize {
					t.Errorf("%d of %d slots (%.3f %%) moved between peers that stayed, want ≤ 0.5 %%", spurious, tableSize, 100*float64(spurious)/tableSize)
				}
				if moved == 0 {
					t.Errorf("no slot moved to or from %s", c.changed)
				}
			})
		}
	}
}

func TestNewRingInput(t *testing.T) {
	tooMany := testPeers(maxPeers+1, 9)
	tests := []struct {
		name        string
		ids         []string
		wantErr     bool
		wantMembers int
	}{
		{name: "nil", ids: nil, wantMembers: 0},
		{name: "empty slice", ids: []string{}, wantMembers: 0},
		{name: "one", ids: []string{"10.0.0.1:8080"}, wantMembers: 1},
		{name: "duplicates", ids: []string{"b", "a", "b", "a"}, wantMembers: 2},
		{name: "empty id alone", ids: []string{""}, wantErr: true},
		{name: "empty id among others", ids: []string{"a", "", "b"}, wantErr: true},
		{name: "at the limit", ids: tooMany[:maxPeers], wantMembers: maxPeers},
		{name: "at the limit with duplicates", ids: append(slices.Clone(tooMany[:maxPeers]), tooMany[0]), wantMembers: maxPeers},
		{name: "one too many", ids: tooMany, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := newRing(tt.ids)
			if tt.wantErr {
				if err == nil || r != nil {
					t.Fatalf("newRing = %v, %v; want nil and an error", r, err)
				}
				t.Logf("error: %v", err)
				return
			}
			if err != nil {
				t.Fatalf("newRing: %v", err)
			}
			if got := len(r.members()); got != tt.wantMembers {
				t.Fatalf("%d members, want %d", got, tt.wantMembers)
			}
			if tt.wantMembers == 0 {
				return
			}
			counts := slotCounts(r)
			if peak := peakShare(counts, tableSize); peak > 1.05 {
				t.Errorf("peak/fair %.4f, want ≤ 1.05", peak)
			}
			if o := r.owner("some key"); o < 0 || o >= tt.wantMembers {
				t.Errorf("owner = %d, want in [0, %d)", o, tt.wantMembers)
			}
		})
	}
}

func TestEmptyRing(t *testing.T) {
	r := mustRing(t, nil)
	if o := r.owner("key"); o != -1 {
		t.Errorf("empty ring: owner = %d, want -1", o)
	}
	if m := r.members(); len(m) != 0 {
		t.Errorf("empty ring: members = %v, want none", m)
	}
	// The manager's first snapshot, before the first LIST, and its last, after Close.
	s := &snapshot{ring: emptyRing, self: -1}
	if g, ok := s.pick("key"); g != nil || ok {
		t.Errorf("empty snapshot: pick = %v, %v; want nil, false", g, ok)
	}
}

// FuzzNewRing feeds arbitrary peer lists, one id per line: newRing must never panic, and
// must either fail for a stated reason or give a ring whose owners are in range and do not
// depend on input order.
func FuzzNewRing(f *testing.F) {
	for _, s := range []string{"", "a", "a\nb", "a\n\nb", "x\nx\nx", "10.0.0.1:8080\n10.0.0.2:8080\n10.0.0.3:8080", "\xff\n\x00\nключ"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ids := strings.Split(s, "\n")
		r, err := newRing(ids)
		distinct := len(slices.Compact(slices.Sorted(slices.Values(ids))))
		if wantErr := slices.Contains(ids, "") || distinct > maxPeers; wantErr != (err != nil) {
			t.Fatalf("newRing(%q) error = %v, want error: %v", ids, err, wantErr)
		}
		if err != nil {
			return
		}
		reversed := slices.Clone(ids)
		slices.Reverse(reversed)
		r2 := mustRing(t, reversed)
		if !slices.Equal(r.members(), r2.members()) || !slices.Equal(r.table, r2.table) {
			t.Fatalf("newRing(%q) differs from the reversed input", ids)
		}
		for _, k := range append(ids, "", "k", s) {
			if o := r.owner(k); o < 0 || o >= len(r.members()) {
				t.Fatalf("owner(%q) = %d with %d members", k, o, len(r.members()))
			}
		}
	})
}

func BenchmarkRebuild(b *testing.B) {
	for _, n := range pickerSizes {
		ids := testPeers(n, 1)
		b.Run(fmt.Sprintf("N=%d/impl=ours", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := newRing(ids); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
