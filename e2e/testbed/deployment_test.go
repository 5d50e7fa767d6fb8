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
