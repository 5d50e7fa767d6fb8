package testbed

import (
	"net/http"
	"testing"
)

// TestDeploymentStats: an adopted pod counts as the deployment's own; a running pod's stats
// are read now, a deleted pod's are the last kept (its exit state), and BackendLoads adds them
// all up.
func TestDeploymentStats(t *testing.T) {
	statsOf := func(loads int64) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			var s Stats
			s.BackendLoads = loads
			writeJSON(w, s)
		})
	}
	running := fakeExample(t, "running", statsOf(300))
	gone := fakePod("gone", "127.0.0.254") // nothing answers there
	d := &Deployment{}
	d.started = []*Pod{gone} // started and deleted
	d.Adopt(running)
	if pods, started := d.Pods(), d.Started(); len(pods) != 1 || pods[0] != running || len(started) != 2 {
		t.Fatalf("after Adopt the pods are %v and those started %v; want the adopted pod taking traffic, and both", pods, started)
	}
	d.keep(gone, Stats{BackendLoads: 250})
	d.keep(gone, Stats{BackendLoads: 240}) // an older reading does not replace a newer one
	all, err := d.Stats(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 2 || all["running"].BackendLoads != 300 || all["gone"].BackendLoads != 250 {
		t.Errorf("Stats = %+v; want running 300 (read now) and gone 250 (the last kept)", all)
	}
	if total, err := d.BackendLoads(t.Context()); err != nil || total != 550 {
		t.Errorf("BackendLoads = %d, %v; want 550", total, err)
	}
	// A running pod that does not answer is an error, not a zero.
	d.started = append(d.started, fakePod("silent", "127.0.0.253"))
	if total, err := d.BackendLoads(t.Context()); err == nil {
		t.Errorf("BackendLoads with a running pod that does not answer = %d, nil; want an error", total)
	}
}

// TestRolloutStep: the steps of a Deployment's rolling update of 150 pods with its defaults
// (maxSurge 25 % = 38, maxUnavailable 25 % = 37) and of 4 pods with maxSurge 1 and
// maxUnavailable 0, as its controller takes them.
func TestRolloutStep(t *testing.T) {
	for _, tc := range []struct {
		name                   string
		n, surge, unavailable  int
		old, created, ready    int
		wantCreate, wantDelete int
	}{
		{"150: at the start, surge and delete the unavailable share", 150, 38, 37, 150, 0, 0, 38, 37},
		{"150: after those deletes, create up to the surge again", 150, 38, 37, 113, 38, 0, 37, 0},
		{"150: ten new pods Ready, ten more old pods go", 150, 38, 37, 113, 75, 10, 0, 10},
		{"150: and as many new ones start", 150, 38, 37, 103, 75, 10, 10, 0},
		{"150: every new pod created, 110 Ready: old ones go down to the floor", 150, 38, 37, 40, 150, 110, 0, 37},
		{"150: the last old pods go", 150, 38, 37, 5, 150, 150, 0, 5},
		{"150: done", 150, 38, 37, 0, 150, 150, 0, 0},
		{"4, surge 1, none unavailable: one new pod first", 4, 1, 0, 4, 0, 0, 1, 0},
		{"4, surge 1, none unavailable: no delete until it is Ready", 4, 1, 0, 4, 1, 0, 0, 0},
		{"4, surge 1, none unavailable: then one old pod goes", 4, 1, 0, 4, 1, 1, 0, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			create, del := rolloutStep(tc.n, tc.surge, tc.unavailable, tc.old, tc.created, tc.ready)
			if create != tc.wantCreate || del != tc.wantDelete {
				t.Errorf("rolloutStep(n %d, surge %d, unavailable %d, old %d, created %d, ready %d) = create %d, delete %d; want %d, %d",
					tc.n, tc.surge, tc.unavailable, tc.old, tc.created, tc.ready, create, del, tc.wantCreate, tc.wantDelete)
			}
		})
	}
}
