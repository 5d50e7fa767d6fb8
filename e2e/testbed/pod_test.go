package testbed

import (
	"context"
	"net/http"
	"slices"
	"strconv"
	"testing"
	"time"
)

// TestFollowRings: a pod's rings come from the example's test-only /testonly/rings?since=N,
// asked again from the number already seen, each ring sorted; following ends when the
// process exits.
func TestFollowRings(t *testing.T) {
	published := [][]string{{"b:1", "a:1"}, {"a:1"}}
	p := fakeExample(t, "f", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, err := strconv.Atoi(r.URL.Query().Get("since"))
		if r.URL.Path != "/testonly/rings" || err != nil {
			http.NotFound(w, r)
			return
		}
		if n < len(published) {
			writeJSON(w, map[string]any{"rings": published[n:]})
			return
		}
		<-r.Context().Done() // no ring after these: wait, as the example does
	}))
	followed := make(chan struct{})
	go func() {
		defer close(followed)
		p.followRings()
	}()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if _, err := p.WaitRing(ctx, "a:1"); err != nil {
		t.Fatal(err)
	}
	var got [][]string
	for _, c := range p.RingChanges() {
		got = append(got, c.Peers)
	}
	if want := [][]string{{"a:1", "b:1"}, {"a:1"}}; !slices.EqualFunc(got, want, slices.Equal) {
		t.Errorf("RingChanges = %v, want %v", got, want)
	}
	close(p.proc.done) // the process exits
	select {
	case <-followed:
	case <-time.After(10 * time.Second):
		t.Fatal("followRings went on after the process exited")
	}
}

// TestPodAddress: 192.0.2.10 to .250 first, then 240 addresses in each 198.18.x.0/24 from
// 198.18.1.10, none twice, until the range ends.
func TestPodAddress(t *testing.T) {
	for _, tc := range []struct {
		n      int
		want   string
		wantOK bool
	}{
		{firstPodIP, "192.0.2.10", true},
		{lastPodIP, "192.0.2.250", true},
		{lastPodIP + 1, "198.18.1.10", true},
		{lastPodIP + podsPerBlock, "198.18.1.249", true},
		{lastPodIP + podsPerBlock + 1, "198.18.2.10", true},
		{lastPodIP + lastBlock*podsPerBlock, "198.18.255.249", true},
		{lastPodIP + lastBlock*podsPerBlock + 1, "", false},
	} {
		got, ok := podAddress(tc.n)
		if got != tc.want || ok != tc.wantOK {
			t.Errorf("podAddress(%d) = %q, %v; want %q, %v", tc.n, got, ok, tc.want, tc.wantOK)
		}
	}
	seen := map[string]int{}
	for n := firstPodIP; ; n++ {
		ip, ok := podAddress(n)
		if !ok {
			break
		}
		if first, dup := seen[ip]; dup {
			t.Fatalf("podAddress(%d) = %s, as podAddress(%d)", n, ip, first)
		}
		seen[ip] = n
	}
}
