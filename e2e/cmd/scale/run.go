package main

import (
	"context"
	"fmt"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/groupcache-k8s/k8s/e2e/testbed"
)

// convergeTimeout bounds one wait for every ring: at 150 pods on two cores a change reaches
// every ring in well under a second; a wait that reaches this is a failure, not a sample.
const convergeTimeout = 2 * time.Minute

// results is everything the run measured, for render.
type results struct {
	Opts options
	// Took is how long the run took inside the namespace; Machine describes the machine.
	Took    time.Duration
	Machine string

	Up          upResult
	Convergence []changeSample
	Cost        []costRow
	// Rollout is the rolling update with the Deployment's defaults; OneByOne the one after
	// it with maxSurge 1 and maxUnavailable 0, one pod at a time, for comparison.
	Rollout, OneByOne rolloutResult
	ScaleDown         spanResult
}

// upResult is the deployment coming up.
type upResult struct {
	Pods int
	// Took is from the first Pod created to every ring holding every pod.
	Took time.Duration
	// Slices are the endpoints in each EndpointSlice of the Service once it was up.
	Slices []int
}

// changeSample is one membership change: its kind, and how long after the status write each
// pod's ring got there.
type changeSample struct {
	Kind  string
	Rings []time.Duration
}

// last is when the last ring got there: the change's convergence.
func (s changeSample) last() time.Duration { return slices.Max(s.Rings) }

// costRow is what the API server sent for some changes of one kind, by resource.
type costRow struct {
	Kind    string
	Changes int
	// Watchers are the watches of each resource while they ran: the library's pods (one
	// EndpointSlice watch each) and the Pod informers, each with the control plane's own.
	SliceWatchers, PodWatchers int
	// Events and bytes the API server sent to watchers of EndpointSlices and of Pods.
	SliceEvents, SliceBytes, PodEvents, PodBytes float64
	// SliceEndpoints is the mean number of endpoints in the slice of each EndpointSlice
	// event, which its size follows.
	SliceEndpoints float64
}

// spanResult is what happened to the rings during a span of many changes at once.
type spanResult struct {
	From, To int // pods before and after
	Took     time.Duration
	// Drops are the transient rings; Evidence, for each, the slice events before it that
	// touched the peer left out.
	Drops    []testbed.Drop
	Evidence [][]testbed.SliceEvent
	// SliceEvents counts the EndpointSlice events of the span, Moves the endpoints among
	// them that the controller moved to another slice; SlicesBefore and SlicesAfter are the
	// endpoints in each slice.
	SliceEvents, Moves        int
	SlicesBefore, SlicesAfter []int
	// Rings is how many rings the pods reported in the span; Cost what the API server sent.
	Rings int
	Cost  costRow
}

// rolloutResult is the rolling update under load.
type rolloutResult struct {
	spanResult
	MaxSurge, MaxUnavailable int
	Reloads                  testbed.Reloads
	// Before and After are every pod's costs at full size: under load before the update,
	// and once it had settled.
	Before, After []testbed.Usage
	// CPU is each pod's CPU time during the update: an old pod's until it exited, a new
	// pod's since it started.
	CPU []time.Duration
	// Rebuilds are the ring rebuilds of each new pod, from its start to the end.
	Rebuilds []int64
	// Handoff sums the hand-off's counters of every pod over the update: each pod's at the
	// end (a deleted pod's at its exit) less its own at the start.
	Handoff handoffCounters
	// LoadBefore and LoadAfter are the machine's load averages (1, 5, 15 min) as the
	// update began and once it had settled.
	LoadBefore, LoadAfter string
	// Slowest are the slowest Gets of the load, from its warm pass to the end; Failed the
	// first failed Gets, told the same way.
	Slowest, Failed []slowGet
}

// loadAverage returns the machine's load averages over 1, 5 and 15 minutes.
func loadAverage() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(data))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

// handoffCounters are the peeks and pushes of the hand-off.
type handoffCounters struct {
	PeekHits, PeekMisses, PeekErrors                            int64
	PushesSent, PushFailures                                    int64
	PushesReceived, PushesRefused, PushesDropped, DrainRequests int64
}

// add adds (sign 1) or subtracts (sign -1) the counters of st.
func (h *handoffCounters) add(st testbed.Stats, sign int64) {
	p := st.Peers
	h.PeekHits += sign * p.PeekHits
	h.PeekMisses += sign * p.PeekMisses
	h.PeekErrors += sign * p.PeekErrors
	h.PushesSent += sign * p.PushesSent
	h.PushFailures += sign * p.PushFailures
	h.PushesReceived += sign * p.PushesReceived
	h.PushesRefused += sign * p.PushesRefused
	h.PushesDropped += sign * p.PushesDropped
	h.DrainRequests += sign * p.DrainRequests
}

// run starts the control plane, the app and its pods, and measures.
func run(ctx context.Context, o options) (*results, error) {
	r := &results{Opts: o, Machine: machine()}
	bins, err := testbed.BinariesFromEnv()
	if err != nil {
		return nil, err
	}
	cluster, err := testbed.StartWith(ctx, bins, os.Stderr, testbed.StartOptions{MaxEndpointsPerSlice: o.maxPerSlice, KeepFiles: o.keepFiles})
	if err != nil {
		return nil, err
	}
	defer cluster.Stop()
	app, err := cluster.NewApp(ctx, "scale", testbed.AppOptions{})
	if err != nil {
		return nil, err
	}
	sliceLog, err := cluster.RecordSlices(ctx, app.Namespace)
	if err != nil {
		return nil, err
	}
	env := []string{"ADMIN_PORT=" + strconv.Itoa(o.adminPort)}
	if o.logLevel != "" {
		env = append(env, "LOG_LEVEL="+o.logLevel)
	}
	if o.cpuProfiles != "" {
		if err := os.MkdirAll(o.cpuProfiles, 0o755); err != nil {
			return nil, fmt.Errorf("-cpu-profiles: %v", err)
		}
		env = append(env, "TESTONLY_CPU_PROFILE="+o.cpuProfiles)
	}
	d := &testbed.Deployment{App: app, Name: "pod", Options: testbed.PodOptions{Env: env}}
	defer d.Stop()
	s := &scale{o: o, cluster: cluster, app: app, d: d, slices: sliceLog, r: r}
	steps, err := s.steps(o.steps)
	if err != nil {
		return nil, err
	}
	for _, step := range append([]func(context.Context) error{s.up}, steps...) {
		if err := step(ctx); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// steps returns the steps named in list, comma-separated, in its order.
func (s *scale) steps(list string) ([]func(context.Context) error, error) {
	byName := map[string]func(context.Context) error{"converge": s.converge, "cost": s.cost,
		"rollout": s.rollout, "one-by-one": s.oneByOne, "scale-down": s.scaleDown}
	var out []func(context.Context) error
	for name := range strings.SplitSeq(list, ",") {
		step, ok := byName[strings.TrimSpace(name)]
		if !ok { // parseFlags checked the names
			return nil, fmt.Errorf("-steps: unknown step %q", name)
		}
		out = append(out, step)
	}
	return out, nil
}

// scale is the run's state.
type scale struct {
	o       options
	cluster *testbed.Cluster
	app     *testbed.App
	d       *testbed.Deployment
	slices  *testbed.SliceLog
	r       *results
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s scale: "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}

// up starts every pod, o.parallel at a time, and waits until every ring holds all of them.
func (s *scale) up(ctx context.Context) error {
	start := time.Now()
	logf("starting %d pods, %d at a time", s.o.pods, s.o.parallel)
	last, err := s.d.StartMany(ctx, s.o.pods, s.o.parallel)
	if err != nil {
		return err
	}
	s.r.Up = upResult{Pods: s.o.pods, Took: last.Sub(start)}
	if s.r.Up.Slices, err = s.sliceSizes(ctx); err != nil {
		return err
	}
	logf("%d pods up; every ring held them all %s after the first was created; slices %v",
		s.o.pods, s.r.Up.Took.Round(time.Millisecond), s.r.Up.Slices)
	return nil
}

// sliceSizes returns the number of endpoints in each EndpointSlice of the Service.
func (s *scale) sliceSizes(ctx context.Context) ([]int, error) {
	list, err := s.cluster.Admin.DiscoveryV1().EndpointSlices(s.app.Namespace).List(ctx,
		metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=" + s.app.Service})
	if err != nil {
		return nil, err
	}
	var sizes []int
	for _, sl := range list.Items {
		sizes = append(sizes, len(sl.Endpoints))
	}
	slices.Sort(sizes)
	slices.Reverse(sizes)
	return sizes, nil
}

// ringsAt waits until every pod in on holds the ring of members, and returns when each got
// there.
func ringsAt(ctx context.Context, on, members []*testbed.Pod) ([]time.Time, error) {
	ctx, cancel := context.WithTimeout(ctx, convergeTimeout)
	defer cancel()
	want := testbed.RingOf(members...)
	at := make([]time.Time, len(on))
	for i, p := range on {
		var err error
		if at[i], err = p.WaitRing(ctx, want...); err != nil {
			return nil, err
		}
	}
	return at, nil
}

// since returns each of at less t0.
func since(at []time.Time, t0 time.Time) []time.Duration {
	out := make([]time.Duration, len(at))
	for i, t := range at {
		out[i] = t.Sub(t0)
	}
	return out
}

// lastReadinessChange is when the test bed last wrote p's readiness: the status write a
// change is timed from.
func lastReadinessChange(p *testbed.Pod) time.Time {
	changes := p.ReadinessChanges()
	return changes[len(changes)-1].At
}

// Membership changes, one at a time, each followed by a wait for every ring (and for the
// informers, if any). Each returns the change's sample.

// flip makes y not ready and ready again: two changes.
func (s *scale) flip(ctx context.Context, y *testbed.Pod, after func([]*testbed.Pod) error) ([]changeSample, error) {
	all := s.d.Pods()
	others := slices.DeleteFunc(slices.Clone(all), func(p *testbed.Pod) bool { return p == y })
	var out []changeSample
	for _, step := range []struct {
		ready       bool
		kind        string
		on, members []*testbed.Pod
	}{{false, "readiness flip: not ready", others, others}, {true, "readiness flip: ready again", all, all}} {
		if err := y.SetReady(ctx, step.ready); err != nil {
			return nil, err
		}
		t0 := lastReadinessChange(y)
		at, err := ringsAt(ctx, step.on, step.members)
		if err != nil {
			return nil, err
		}
		if err := after(step.members); err != nil {
			return nil, err
		}
		out = append(out, changeSample{step.kind, since(at, t0)})
	}
	return out, nil
}

// join starts a pod not ready, waits until it sees the others, and makes it ready.
func (s *scale) join(ctx context.Context, name string, after func([]*testbed.Pod) error) (changeSample, error) {
	x, err := s.app.StartPod(ctx, name, testbed.PodOptions{Env: s.d.Options.Env, NotReady: true})
	if err != nil {
		return changeSample{}, err
	}
	s.d.Adopt(x) // before anything can fail: Stop stops it
	members := s.d.Pods()
	if _, err := ringsAt(ctx, []*testbed.Pod{x}, members); err != nil {
		return changeSample{}, err
	}
	if err := x.SetReady(ctx, true); err != nil {
		return changeSample{}, err
	}
	t0 := lastReadinessChange(x)
	at, err := ringsAt(ctx, members, members)
	if err != nil {
		return changeSample{}, err
	}
	if err := after(members); err != nil {
		return changeSample{}, err
	}
	return changeSample{"pod added", since(at, t0)}, nil
}

// leave deletes y gracefully (preStop, SIGTERM, drain, exit) and waits until every other
// ring has dropped it; the rest of the delete goes on in the background, its error to done.
func (s *scale) leave(ctx context.Context, y *testbed.Pod, done chan<- error, after func([]*testbed.Pod) error) (changeSample, error) {
	rest := slices.DeleteFunc(s.d.Pods(), func(p *testbed.Pod) bool { return p == y })
	go func() { done <- s.d.Retire(ctx, y) }()
	at, err := ringsAt(ctx, rest, rest)
	if err != nil {
		return changeSample{}, err
	}
	if err := after(rest); err != nil {
		return changeSample{}, err
	}
	return changeSample{"pod deleted", since(at, lastReadinessChange(y))}, nil
}

// converge makes the flips, joins and leaves one at a time and times each.
func (s *scale) converge(ctx context.Context) error {
	logf("convergence: %d readiness flips, %d pods added, %d deleted, one at a time", s.o.flips, s.o.joins, s.o.leaves)
	nothing := func([]*testbed.Pod) error { return nil }
	for i := range s.o.flips {
		pods := s.d.Pods()
		samples, err := s.flip(ctx, pods[i*len(pods)/s.o.flips], nothing)
		if err != nil {
			return err
		}
		s.r.Convergence = append(s.r.Convergence, samples...)
	}
	for i := range s.o.joins {
		sample, err := s.join(ctx, "join-"+strconv.Itoa(i), nothing)
		if err != nil {
			return err
		}
		s.r.Convergence = append(s.r.Convergence, sample)
	}
	done := make(chan error, s.o.leaves)
	for i := range s.o.leaves {
		pods := s.d.Pods()
		sample, err := s.leave(ctx, pods[(2*i+1)*len(pods)/(2*s.o.leaves)], done, nothing)
		if err != nil {
			return err
		}
		s.r.Convergence = append(s.r.Convergence, sample)
	}
	for range s.o.leaves {
		if err := <-done; err != nil {
			return err
		}
	}
	for _, kind := range kinds(s.r.Convergence) {
		p50, p99, worst := testbed.Percentiles(lasts(s.r.Convergence, kind))
		logf("  %s: every ring p50 %s, p99 %s, max %s", kind, p50.Round(time.Millisecond), p99.Round(time.Millisecond), worst.Round(time.Millisecond))
	}
	return nil
}

// kinds returns the kinds of samples in the order they first appear.
func kinds(samples []changeSample) []string {
	var out []string
	for _, s := range samples {
		if !slices.Contains(out, s.Kind) {
			out = append(out, s.Kind)
		}
	}
	return out
}

// lasts returns the convergence of each change of kind ("" for every kind).
func lasts(samples []changeSample, kind string) []time.Duration {
	var out []time.Duration
	for _, s := range samples {
		if kind == "" || s.Kind == kind {
			out = append(out, s.last())
		}
	}
	return out
}

// rings returns the time each ring took, over every change of kind ("" for every kind).
func rings(samples []changeSample, kind string) []time.Duration {
	var out []time.Duration
	for _, s := range samples {
		if kind == "" || s.Kind == kind {
			out = append(out, s.Rings...)
		}
	}
	return out
}

// watchCost is what the API server has sent to watchers so far, by resource.
type watchCost struct{ events, bytes map[string]float64 }

func (s *scale) watchCost(ctx context.Context) (watchCost, error) {
	m, err := s.cluster.APIMetrics(ctx)
	if err != nil {
		return watchCost{}, err
	}
	return watchCost{events: m.SumBy("apiserver_watch_events_total", "resource"),
		bytes: m.SumBy("apiserver_watch_events_sizes_sum", "resource")}, nil
}

// costBetween is the cost row of changes changes of kind, from a to b.
func costBetween(kind string, changes int, a, b watchCost, sliceWatchers, podWatchers int) costRow {
	return costRow{Kind: kind, Changes: changes, SliceWatchers: sliceWatchers, PodWatchers: podWatchers,
		SliceEvents: b.events["endpointslices"] - a.events["endpointslices"], SliceBytes: b.bytes["endpointslices"] - a.bytes["endpointslices"],
		PodEvents: b.events["pods"] - a.events["pods"], PodBytes: b.bytes["pods"] - a.bytes["pods"]}
}

// meanEndpoints is the mean number of endpoints the slices of events held.
func meanEndpoints(events []testbed.SliceEvent) float64 {
	if len(events) == 0 {
		return 0
	}
	total := 0
	for _, e := range events {
		total += len(e.Ready) + len(e.NotReady)
	}
	return float64(total) / float64(len(events))
}

// ips returns the sorted IPs of pods.
func ips(pods []*testbed.Pod) []string {
	out := make([]string, len(pods))
	for i, p := range pods {
		out[i] = p.IP
	}
	slices.Sort(out)
	return out
}

// cost runs a Pod informer per pod beside the pods' own watches and makes changes of each
// kind, counting what the API server sends to each kind of watcher.
func (s *scale) cost(ctx context.Context) error {
	n := len(s.d.Pods())
	svc, err := s.cluster.Admin.CoreV1().Services(s.app.Namespace).Get(ctx, s.app.Service, metav1.GetOptions{})
	if err != nil {
		return err
	}
	logf("API server cost: starting %d Pod informers", n)
	in, err := startPodInformers(ctx, s.cluster.AdminConfig, s.app.Namespace, svc.Spec.Selector, n)
	if err != nil {
		return err
	}
	defer in.stop()
	waitInformers := func(members []*testbed.Pod) error {
		ctx, cancel := context.WithTimeout(ctx, convergeTimeout)
		defer cancel()
		return in.wait(ctx, ips(members))
	}
	if err := waitInformers(s.d.Pods()); err != nil {
		return err
	}
	// Watchers besides the pods and the informers: the EndpointSlice controller watches
	// both resources, and this program records the slices.
	sliceWatchers, podWatchers := func() int { return len(s.d.Pods()) + 2 }, n+1
	measure := func(kind string, changes int, do func() error) error {
		a, err := s.watchCost(ctx)
		if err != nil {
			return err
		}
		mark := len(s.slices.Events())
		if err := do(); err != nil {
			return err
		}
		b, err := s.watchCost(ctx)
		if err != nil {
			return err
		}
		row := costBetween(kind, changes, a, b, sliceWatchers(), podWatchers)
		row.SliceEndpoints = meanEndpoints(s.slices.Events()[mark:])
		s.r.Cost = append(s.r.Cost, row)
		logf("  %s: %d changes; EndpointSlice watchers got %.0f events, %.0f KiB; Pod informers %.0f events, %.0f KiB",
			kind, changes, row.SliceEvents, row.SliceBytes/1024, row.PodEvents, row.PodBytes/1024)
		return nil
	}
	k := s.o.costChanges
	if err := measure("readiness flip", 2*k, func() error {
		for i := range k {
			pods := s.d.Pods()
			if _, err := s.flip(ctx, pods[(2*i+1)*len(pods)/(2*k)], waitInformers); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		return err
	}
	if err := measure("pod added", k, func() error {
		for i := range k {
			if _, err := s.join(ctx, "cost-join-"+strconv.Itoa(i), waitInformers); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		return err
	}
	return measure("pod deleted", k, func() error {
		done := make(chan error, k)
		for i := range k {
			pods := s.d.Pods()
			if _, err := s.leave(ctx, pods[(2*i+1)*len(pods)/(2*k)], done, waitInformers); err != nil {
				return err
			}
		}
		// The pods' exits and the Pod objects' removal are part of a delete's cost.
		for range k {
			if err := <-done; err != nil {
				return err
			}
		}
		return nil
	})
}

// usage reads what every pod in pods costs now.
func (s *scale) usage(ctx context.Context, pods []*testbed.Pod) ([]testbed.Usage, error) {
	table, err := testbed.ReadTCPTable()
	if err != nil {
		return nil, err
	}
	out := make([]testbed.Usage, len(pods))
	for i, p := range pods {
		if out[i], err = p.Usage(ctx, s.o.adminPort, table); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// rollout replaces every pod with the Deployment's default surge and unavailability, 25 %
// each, which Kubernetes rounds up and down.
func (s *scale) rollout(ctx context.Context) error {
	n := float64(len(s.d.Pods()))
	return s.rollWith(ctx, &s.r.Rollout, int(math.Ceil(0.25*n)), int(math.Floor(0.25*n)), "roll-")
}

// oneByOne replaces every pod again, with maxSurge 1 and maxUnavailable 0.
func (s *scale) oneByOne(ctx context.Context) error {
	return s.rollWith(ctx, &s.r.OneByOne, 1, 0, "one-")
}

// rollWith replaces every pod with maxSurge and maxUnavailable, under a load of fresh keys
// named prefix<i>, and checks the rings it went through.
func (s *scale) rollWith(ctx context.Context, res *rolloutResult, maxSurge, maxUnavailable int, prefix string) error {
	n := len(s.d.Pods())
	res.MaxSurge, res.MaxUnavailable = maxSurge, maxUnavailable
	keys := testbed.Keys(prefix, max(1000, s.o.keysPerPod*n))
	logf("rolling update of %d pods (maxSurge %d, maxUnavailable %d) under a load of %d keys, %d callers",
		n, res.MaxSurge, res.MaxUnavailable, len(keys), s.o.callers)
	old := s.d.Pods()
	cpu0 := map[*testbed.Pod]time.Duration{}
	var spanStart time.Time
	var before watchCost
	var sliceMark int
	change := func(ctx context.Context) error {
		statsBefore, err := s.d.Stats(ctx)
		if err != nil {
			return err
		}
		for _, st := range statsBefore {
			res.Handoff.add(st, -1)
		}
		if res.Before, err = s.usage(ctx, old); err != nil {
			return err
		}
		for _, p := range old {
			if cpu0[p], err = p.CPUTime(); err != nil {
				return err
			}
		}
		if res.SlicesBefore, err = s.sliceSizes(ctx); err != nil {
			return err
		}
		if before, err = s.watchCost(ctx); err != nil {
			return err
		}
		sliceMark = len(s.slices.Events())
		res.LoadBefore = loadAverage()
		spanStart = time.Now()
		if err := s.d.RollOut(ctx, res.MaxSurge, res.MaxUnavailable); err != nil {
			return err
		}
		pods := s.d.Pods()
		_, err = ringsAt(ctx, pods, pods)
		res.Took = time.Since(spanStart)
		return err
	}
	var err error
	if res.Reloads, err = testbed.MeasureReloads(ctx, s.d, keys, s.o.callers, 1, change); err != nil {
		return err
	}
	res.LoadAfter = loadAverage()
	names, readiness := map[string]string{}, map[string][]testbed.ReadinessChange{}
	for _, p := range s.d.Started() {
		names[p.PeerID()], readiness[p.Name] = p.Name, p.ReadinessChanges()
	}
	res.Slowest = describeSlowGets(res.Reloads.Slowest, names, readiness, spanStart)
	var failed []testbed.SlowGet
	for _, f := range res.Reloads.Failures[:min(5, len(res.Reloads.Failures))] {
		failed = append(failed, testbed.SlowGet{Start: f.At.Add(-f.Took), Key: f.Key, Pod: f.Pod, Took: f.Took, Err: f.Err})
	}
	res.Failed = describeSlowGets(failed, names, readiness, spanStart)
	for _, st := range res.Reloads.Pods {
		res.Handoff.add(st, 1)
	}
	after, err := s.watchCost(ctx)
	if err != nil {
		return err
	}
	pods := s.d.Pods()
	res.Cost = costBetween("rolling update", 2*n, before, after, n+2, 1)
	if err := s.span(ctx, &res.spanResult, n, len(pods), spanStart, sliceMark); err != nil {
		return err
	}
	if res.After, err = s.usage(ctx, pods); err != nil {
		return err
	}
	for _, p := range old {
		t, err := p.CPUTime()
		if err != nil {
			return err
		}
		res.CPU = append(res.CPU, t-cpu0[p])
	}
	for _, p := range pods {
		t, err := p.CPUTime()
		if err != nil {
			return err
		}
		res.CPU = append(res.CPU, t)
		st, err := p.Stats(ctx)
		if err != nil {
			return err
		}
		res.Rebuilds = append(res.Rebuilds, st.Peers.RingRebuilds)
	}
	rl := res.Reloads
	logf("rolling update done in %s: %d of %d keys loaded again, %d Gets (p50 %s, p99 %s, max %s), %d failed; %d transient rings",
		res.Took.Round(time.Millisecond), rl.Reloaded, rl.Keys, rl.Gets, rl.P50.Round(time.Microsecond), rl.P99.Round(time.Microsecond),
		rl.Max.Round(time.Millisecond), len(rl.Failures), len(res.Drops))
	return nil
}

// span fills in what the rings and the slices did from start on (slice events from
// sliceMark on).
func (s *scale) span(ctx context.Context, res *spanResult, from, to int, start time.Time, sliceMark int) error {
	res.From, res.To = from, to
	pods := s.d.Started()
	res.Drops = testbed.TransientDrops(pods, start)
	for _, p := range pods {
		for _, rc := range p.RingChanges() {
			if rc.At.After(start) {
				res.Rings++
			}
		}
	}
	all := s.slices.Events()
	res.Moves = testbed.SliceMoves(all, sliceMark)
	events := all[sliceMark:]
	res.SliceEvents = len(events)
	res.Cost.SliceEndpoints = meanEndpoints(events)
	for _, d := range res.Drops {
		res.Evidence = append(res.Evidence, evidence(events, d))
	}
	var err error
	res.SlicesAfter, err = s.sliceSizes(ctx)
	return err
}

// evidenceWindow is how far before a transient ring evidence looks for slice events.
const evidenceWindow = 5 * time.Second

// evidence returns the slice events in the evidenceWindow before d that listed d's peer, or
// stopped listing it: every write that moved it.
func evidence(events []testbed.SliceEvent, d testbed.Drop) []testbed.SliceEvent {
	ip := d.Peer
	if i := lastColon(ip); i >= 0 {
		ip = ip[:i]
	}
	held := map[string]bool{} // by slice, whether its last event listed ip
	var out []testbed.SliceEvent
	for _, e := range events {
		holds := e.Holds(ip)
		moved := holds != held[e.Slice]
		held[e.Slice] = holds
		if (holds || moved) && !e.At.Before(d.At.Add(-evidenceWindow)) && !e.At.After(d.At) {
			out = append(out, e)
		}
	}
	return out
}

func lastColon(s string) int {
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] == ':' {
			return i
		}
	}
	return -1
}

// scaleDown deletes all but o.scaleDownTo pods at once, as a ReplicaSet scaled down does,
// leaving every slice partly empty, and checks the rings.
func (s *scale) scaleDown(ctx context.Context) error {
	pods := s.d.Pods()
	// Keep pods spread over the slices: every k-th, in the order they started.
	var keep, victims []*testbed.Pod
	step := float64(len(pods)) / float64(s.o.scaleDownTo)
	next := 0.0
	for i, p := range pods {
		if float64(i) >= next && len(keep) < s.o.scaleDownTo {
			keep = append(keep, p)
			next += step
			continue
		}
		victims = append(victims, p)
	}
	logf("scale-down %d → %d pods at once", len(pods), len(keep))
	res := &s.r.ScaleDown
	var err error
	if res.SlicesBefore, err = s.sliceSizes(ctx); err != nil {
		return err
	}
	before, err := s.watchCost(ctx)
	if err != nil {
		return err
	}
	sliceMark := len(s.slices.Events())
	start := time.Now()
	done := make(chan error, len(victims))
	for _, p := range victims {
		go func() { done <- s.d.Retire(ctx, p) }()
	}
	if _, err := ringsAt(ctx, keep, keep); err != nil {
		return err
	}
	res.Took = time.Since(start)
	for range victims {
		if err := <-done; err != nil {
			return err
		}
	}
	after, err := s.watchCost(ctx)
	if err != nil {
		return err
	}
	res.Cost = costBetween("scale-down", len(victims), before, after, len(pods)+2, 1)
	if err := s.span(ctx, res, len(pods), len(keep), start, sliceMark); err != nil {
		return err
	}
	logf("scale-down done: every ring held the %d left %s after the deletes began; %d transient rings; slices %v → %v",
		len(keep), res.Took.Round(time.Millisecond), len(res.Drops), res.SlicesBefore, res.SlicesAfter)
	return nil
}
