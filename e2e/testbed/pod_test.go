package testbed

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
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

// TestFinishDeleteReportsBothAnUncleanExitAndAFailedRemoval: FinishDelete returns the
// process's exit error and the removal's, each when it is one; an unclean exit was lost
// when the removal failed too, and the test bed reported the removal's error as the exit.
func TestFinishDeleteReportsBothAnUncleanExitAndAFailedRemoval(t *testing.T) {
	pods := schema.GroupResource{Resource: "pods"}
	exited := errors.New("exit status 1")
	forbidden := apierrors.NewForbidden(pods, "pod-1", errors.New("no"))
	for _, tc := range []struct {
		name            string
		exit, removal   error
		wantExit        bool // the error returned is the exit's
		wantRemovalFail bool // the error returned names the failed removal
	}{
		{"clean exit, removed", nil, nil, false, false},
		{"clean exit, already removed", nil, apierrors.NewNotFound(pods, "pod-1"), false, false},
		{"unclean exit, removed", exited, nil, true, false},
		{"clean exit, removal failed", nil, forbidden, false, true},
		{"unclean exit, removal failed", exited, forbidden, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cs := fake.NewClientset()
			cs.PrependReactor("delete", "pods", func(k8stesting.Action) (bool, runtime.Object, error) {
				return true, nil, tc.removal
			})
			p := fakePod("pod-1", "127.0.0.1")
			p.app = &App{c: &Cluster{Admin: cs}, Namespace: "ns"}
			p.proc.err = tc.exit
			close(p.proc.done)
			err := p.FinishDelete(context.Background())
			if got := tc.exit != nil && errors.Is(err, tc.exit); got != tc.wantExit {
				t.Errorf("FinishDelete = %v; the exit's error in it: %v, want %v", err, got, tc.wantExit)
			}
			if got := tc.removal != nil && errors.Is(err, tc.removal); got != tc.wantRemovalFail {
				t.Errorf("FinishDelete = %v; the removal's error in it: %v, want %v", err, got, tc.wantRemovalFail)
			}
			if (err == nil) != (tc.exit == nil && !tc.wantRemovalFail) {
				t.Errorf("FinishDelete = %v", err)
			}
		})
	}
}
