package e2e

import (
	"context"
	"flag"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/groupcache-k8s/k8s/e2e/testbed"
)

// longOutage adds one outage of that length to TestAPIServerOutagesRecover. The suite
// stays within minutes without it; the README's bound covers outages of up to 5 minutes:
//
//	cd e2e && go test -run TestAPIServerOutagesRecover -outage 5m -v .
var longOutage = flag.Duration("outage", 0, "also kill the API server for this long in TestAPIServerOutagesRecover")

// TestAPIServerOutagesRecover (issue 11): the API server is killed for 5 s, 20 s, 60 s, and
// three times for 10 s with short returns in between. While it is away nothing listens at its
// address, so each pod retries every 1-2 s: at most one request a second. When it is back, a
// pod joins; the EndpointSlice controller writes it, and every ring must hold it within 5 s
// of that write, however long or frequent the outages were.
func TestAPIServerOutagesRecover(t *testing.T) {
	app := newApp(t, testbed.AppOptions{})
	pods := startPods(t, app, 0, 3)
	waitRings(t, pods, pods)
	down := false
	t.Cleanup(func() {
		// Later tests share this control plane: never leave it without an API server.
		if down {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			if err := cluster.StartAPIServer(ctx); err != nil {
				t.Errorf("restarting the API server after a failure: %v", err)
			}
		}
	})

	cases := []struct {
		name    string
		outages []time.Duration
	}{
		{"5 s", []time.Duration{5 * time.Second}},
		{"20 s", []time.Duration{20 * time.Second}},
		{"60 s", []time.Duration{60 * time.Second}},
		{"three of 10 s back to back", []time.Duration{10 * time.Second, 10 * time.Second, 10 * time.Second}},
	}
	if *longOutage > 0 {
		cases = append(cases, struct {
			name    string
			outages []time.Duration
		}{longOutage.String(), []time.Duration{*longOutage}})
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sent := func() []int64 {
				out := make([]int64, len(pods))
				for j, p := range pods {
					out[j] = stats(t, p).Peers.APIRequests
				}
				return out
			}
			before := sent()
			var away time.Duration
			for k, d := range tc.outages {
				if k > 0 {
					// Back for a moment: long enough for the pods to reconnect, not to reset
					// their schedule.
					time.Sleep(2 * time.Second) // the length of the return, not a wait for anything
				}
				cluster.KillAPIServer()
				down = true
				killed := time.Now()
				time.Sleep(d) // the outage: a real duration of the fault
				ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
				err := cluster.StartAPIServer(ctx)
				cancel()
				if err != nil {
					t.Fatal(err)
				}
				down = false
				away += time.Since(killed)
				if err := cluster.RestartControllerManager(); err != nil {
					t.Fatal(err)
				}
			}
			after := sent()
			for j, p := range pods {
				n := after[j] - before[j]
				rate := float64(n) / away.Seconds()
				t.Logf("  %s sent %d requests in %s away (kills and restarts included): %.2f/s", p.Name, n,
					away.Round(time.Millisecond), rate)
				// One a second, plus the watch that broke at each kill.
				if limit := int64(away.Seconds()) + int64(len(tc.outages)); n > limit {
					t.Errorf("%s sent %d requests while the API server was away %s; want at most %d", p.Name, n,
						away.Round(time.Millisecond), limit)
				}
			}

			// The change written right after the return: a pod joins.
			readyAt, err := cluster.WatchReady(t.Context(), app.Namespace)
			if err != nil {
				t.Fatal(err)
			}
			joined := startPod(t, app, fmt.Sprintf("pod-join-%d", i), testbed.PodOptions{})
			all := append(slices.Clone(pods), joined)
			last := waitRings(t, all, all)
			written := readyAt(joined.IP)
			if written.IsZero() {
				t.Fatalf("the EndpointSlice controller's write of %s was not seen", joined.Name)
			}
			took := last.Sub(written)
			t.Logf("outage %s: the joining pod reached every ring %s after the EndpointSlice write", tc.name,
				took.Round(time.Millisecond))
			if took > 5*time.Second {
				t.Errorf("a change written after the API server's return reached every ring %s after the write; want within 5 s",
					took.Round(time.Millisecond))
			}
			// Back to the three pods for the next case.
			if err := joined.Delete(t.Context()); err != nil {
				t.Fatal(err)
			}
			waitRings(t, pods, pods)
		})
	}
}
