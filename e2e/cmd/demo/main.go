// Command demo shows the library at work on a real control plane on this machine: three
// example pods find each other through their Service's EndpointSlices, split the keys, answer
// through any pod, take in a fourth pod, keep answering when one is killed, and go through a
// rolling update under load, keeping their cache warm (the hand-off) where without it most keys
// are loaded again. It prints what happened and how long each step took, then removes
// everything it started.
//
//	make demo     (or: cd e2e && go run ./cmd/demo)
package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/groupcache-k8s/k8s/e2e/testbed"
)

func main() {
	if !testbed.InNetNS() {
		os.Exit(testbed.BuildAndRerun())
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Stdout); err != nil {
		if ctx.Err() != nil {
			fmt.Fprintln(os.Stderr, "demo interrupted; everything it started is stopped and removed")
			os.Exit(130)
		}
		fmt.Fprintln(os.Stderr, "demo failed:", err)
		os.Exit(1)
	}
}

// demo holds the running pods and where the report goes.
type demo struct {
	ctx     context.Context
	out     io.Writer
	cluster *testbed.Cluster
	app     *testbed.App
	pods    []*testbed.Pod
	name    map[string]string // peer id -> pod name
}

func run(ctx context.Context, out io.Writer) error {
	bins, err := testbed.BinariesFromEnv()
	if err != nil {
		return err
	}
	cluster, err := testbed.Start(ctx, bins, os.Stderr)
	if err != nil {
		return err
	}
	defer cluster.Stop()
	app, err := cluster.NewApp(ctx, "demo", testbed.AppOptions{})
	if err != nil {
		return err
	}
	d := &demo{ctx: ctx, out: out, cluster: cluster, app: app, name: map[string]string{}}
	defer func() {
		for _, p := range d.pods {
			p.Stop()
		}
	}()
	fmt.Fprintf(out, "\n== groupcache on Kubernetes: a real kube-apiserver, EndpointSlice controller and example pods on this machine\n\n")
	for _, step := range []func() error{d.startThree, d.showOwners, d.getThroughEach, d.whereToLook, d.scaleUp, d.killOne, d.rollingUpdate} {
		if err := step(); err != nil {
			return err
		}
	}
	fmt.Fprintf(out, "\nDone. Stopping the pods and the control plane.\n")
	return nil
}

func (d *demo) startThree() error {
	start := time.Now()
	for i := range 3 {
		if _, err := d.startPod(fmt.Sprintf("example-%d", i)); err != nil {
			return err
		}
	}
	converged, err := d.waitRings(d.pods, d.pods)
	if err != nil {
		return err
	}
	fmt.Fprintf(d.out, "1. Three pods started (Pod objects, processes on 192.0.2.10-12, status Ready).\n")
	fmt.Fprintf(d.out, "   Every pod's ring held all three %s after the first pod was created.\n\n", ms(converged.Sub(start)))
	return nil
}

func (d *demo) startPod(name string) (*testbed.Pod, error) {
	p, err := d.app.StartPod(d.ctx, name, testbed.PodOptions{Env: []string{"ADMIN_PORT=" + strconv.Itoa(adminPort)}})
	if err != nil {
		return nil, err
	}
	d.pods = append(d.pods, p)
	d.name[p.GroupcacheAddr()] = p.Name
	return p, nil
}

// keys is the demo's working set.
var keys = testbed.Keys("user:", 1000)

func (d *demo) showOwners() error {
	owners, err := d.owners(d.pods[0])
	if err != nil {
		return err
	}
	fmt.Fprintf(d.out, "2. Who owns which keys (1000 keys asked through %s; each owner loads its keys once):\n", d.pods[0].Name)
	count := map[string]int{}
	for _, o := range owners {
		count[o]++
	}
	for _, p := range d.pods {
		var sample []string
		for _, k := range keys[:12] {
			if owners[k] == p.Name {
				sample = append(sample, k)
			}
		}
		fmt.Fprintf(d.out, "   %-10s owns %4d keys, e.g. %s\n", p.Name, count[p.Name], strings.Join(sample, " "))
	}
	fmt.Fprintln(d.out)
	return nil
}

// owners asks every key through pod, one at a time, and returns each key's owner by pod name.
func (d *demo) owners(through *testbed.Pod) (map[string]string, error) {
	results, _, err := testbed.GetAll(d.ctx, []*testbed.Pod{through}, keys, 1)
	if err != nil {
		return nil, err
	}
	owners := map[string]string{}
	for i, r := range results {
		owners[keys[i]] = d.name[r.Owner]
	}
	return owners, nil
}

// adminPort is where the demo's pods serve the operator page and the metrics, as in the
// example's manifest.
const adminPort = 9090

// whereToLook prints where each pod's operator page and metrics are, and part of a scrape.
func (d *demo) whereToLook() error {
	base := "http://" + net.JoinHostPort(d.pods[0].IP, strconv.Itoa(adminPort))
	fmt.Fprintf(d.out, "   Where to look while it runs: every pod serves its operator page at http://<pod IP>:%d/debug/groupcache\n", adminPort)
	fmt.Fprintf(d.out, "   and its Prometheus metrics at /metrics (inside the test bed's network namespace; in a cluster,\n")
	fmt.Fprintf(d.out, "   the manifest's port %d, annotated for scraping). Part of %s/metrics:\n", adminPort, base)
	req, err := http.NewRequestWithContext(d.ctx, http.MethodGet, base+"/metrics", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	scrape, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	for _, line := range strings.Split(string(scrape), "\n") {
		for _, prefix := range []string{"groupcache_k8s_peers ", "groupcache_k8s_peer_calls_total ", "groupcache_k8s_server_requests_total ",
			"groupcache_gets_total", "groupcache_local_loads_total", `groupcache_cache_items{cache="main"`} {
			if strings.HasPrefix(line, prefix) {
				fmt.Fprintf(d.out, "     %s\n", line)
			}
		}
	}
	fmt.Fprintln(d.out)
	return nil
}

func (d *demo) getThroughEach() error {
	fmt.Fprintf(d.out, "3. One key through each pod: the pod asks the owner over gRPC, the owner answers from its cache.\n")
	for _, p := range d.pods {
		start := time.Now()
		r, err := p.Get(d.ctx, "user:42")
		if err != nil {
			return err
		}
		fmt.Fprintf(d.out, "   GET user:42 via %-10s -> %q, owner %s, loaded by %s (%s)\n",
			p.Name, r.Value, d.name[r.Owner], r.LoadedBy, ms(time.Since(start)))
	}
	fmt.Fprintln(d.out)
	return nil
}

func (d *demo) scaleUp() error {
	before, err := d.owners(d.pods[0])
	if err != nil {
		return err
	}
	p, err := d.app.StartPod(d.ctx, "example-3", testbed.PodOptions{NotReady: true})
	if err != nil {
		return err
	}
	d.pods = append(d.pods, p)
	d.name[p.GroupcacheAddr()] = p.Name
	start := time.Now()
	if err := p.SetReady(d.ctx, true); err != nil {
		return err
	}
	converged, err := d.waitRings(d.pods, d.pods)
	if err != nil {
		return err
	}
	after, err := d.owners(d.pods[1])
	if err != nil {
		return err
	}
	moved, toNew := 0, 0
	for _, k := range keys {
		if before[k] != after[k] {
			moved++
			if after[k] == p.Name {
				toNew++
			}
		}
	}
	fmt.Fprintf(d.out, "4. Scale-up: %s turned Ready; all four rings had it %s later.\n", p.Name, ms(converged.Sub(start)))
	fmt.Fprintf(d.out, "   %d of 1000 keys moved (ideal 1/4 = 250); %d of them to %s, %d between pods that stayed.\n\n",
		moved, toNew, p.Name, moved-toNew)
	return nil
}

func (d *demo) killOne() error {
	victim, survivors := d.pods[1], slices.Delete(slices.Clone(d.pods), 1, 2)
	victim.Kill()
	fmt.Fprintf(d.out, "5. %s killed with SIGKILL. Its endpoint is still Ready, so the others still route to it:\n", victim.Name)
	// One Get at a time, so that the slowest shows the dead peer, not the queue.
	results, durations, err := testbed.GetAll(d.ctx, survivors, keys, 1)
	if err != nil {
		return err
	}
	local := 0
	for _, r := range results {
		if d.name[r.Owner] == victim.Name {
			local++
		}
	}
	fmt.Fprintf(d.out, "   all 1000 keys answered right through the survivors; %d owned by %s were loaded locally instead; slowest %s.\n",
		local, victim.Name, ms(slices.Max(durations)))
	start := time.Now()
	if err := victim.SetReady(d.ctx, false); err != nil {
		return err
	}
	converged, err := d.waitRings(survivors, survivors)
	if err != nil {
		return err
	}
	fmt.Fprintf(d.out, "   The kubelet marks it not ready: every survivor dropped it %s later.\n", ms(converged.Sub(start)))
	return nil
}

// loadCallers is how many Gets the rolling update's load generator has in flight at once.
const loadCallers = 4

// rollingUpdate replaces the three pods that still run, one by one as a Deployment with
// maxSurge 1 does, while a load generator asks the 1000 keys through every pod that takes
// traffic; then it does the same update with the hand-off turned off (HANDOFF=off), on three
// fresh pods of their own Service, and compares how many keys were loaded again.
func (d *demo) rollingUpdate() error {
	var running []*testbed.Pod // the pods not killed in step 5
	for _, p := range d.pods {
		select {
		case <-p.Exited():
		default:
			running = append(running, p)
		}
	}
	fmt.Fprintf(d.out, "\n6. Rolling update, as a Deployment with maxSurge 1 does it: for each old pod a new one starts and\n")
	fmt.Fprintf(d.out, "   joins every ring, then the old one is deleted (terminating, a %s preStop, SIGTERM, it drains\n", testbed.DefaultPreStop)
	fmt.Fprintf(d.out, "   and exits). Meanwhile %d callers ask the 1000 keys round-robin through every pod that takes traffic.\n", loadCallers)
	step := func(format string, args ...any) { fmt.Fprintf(d.out, "     "+format+"\n", args...) }
	rollout := &testbed.Deployment{App: d.app, Name: "example-v2", Logf: step}
	defer rollout.Stop()
	rollout.Adopt(running...)
	fmt.Fprintf(d.out, "   With the hand-off (the default):\n")
	// After the kill in step 5 the survivors hold copies of keys they do not own: warm the
	// working set through every pod, so that every owner holds its keys.
	with, err := testbed.MeasureReloads(d.ctx, rollout, keys, loadCallers, len(running), rollout.RollingUpdate)
	if err != nil {
		return err
	}
	d.pods = rollout.Pods()

	app, err := d.cluster.NewApp(d.ctx, "demo-baseline", testbed.AppOptions{})
	if err != nil {
		return err
	}
	baseline := &testbed.Deployment{App: app, Name: "example", Options: testbed.PodOptions{Env: []string{"HANDOFF=off"}}, Logf: step}
	defer baseline.Stop()
	fmt.Fprintf(d.out, "   Without it (HANDOFF=off; three fresh pods of their own Service in namespace %s):\n", app.Namespace)
	if err := baseline.Scale(d.ctx, len(running)); err != nil {
		return err
	}
	without, err := testbed.MeasureReloads(d.ctx, baseline, keys, loadCallers, len(running), baseline.RollingUpdate)
	if err != nil {
		return err
	}
	for _, m := range []struct {
		what string
		r    testbed.Reloads
	}{{"with the hand-off", with}, {"without it", without}} {
		fmt.Fprintf(d.out, "   %-18s %4d of %d keys loaded again from the backend; %d Gets, %d failed; settled %s after the update began.\n",
			m.what+":", m.r.Reloaded, m.r.Keys, m.r.Gets, len(m.r.Failures), m.r.Took.Round(100*time.Millisecond))
	}
	return nil
}

// waitRings waits up to a minute until every pod in on holds exactly members, and returns when
// the last got there.
func (d *demo) waitRings(on, members []*testbed.Pod) (time.Time, error) {
	ctx, cancel := context.WithTimeout(d.ctx, time.Minute)
	defer cancel()
	return testbed.WaitRings(ctx, on, members)
}

// ms formats d in milliseconds; a negative d (the rings had converged before the clock
// started) as zero.
func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", testbed.Millis(max(d, 0))) }
