package testbed

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"sync"
	"time"
)

// DefaultPreStop is the preStop hook a Deployment simulates: the time between the start of a
// pod's graceful delete and its SIGTERM, during which the pod still runs and the others drop
// it from their rings, as with a `sleep` preStop hook.
const DefaultPreStop = 2 * time.Second

// Deployment plays a Deployment's controller, and the kubelet, over some of an App's pods: it
// scales up, deletes gracefully (preStop, then SIGTERM) and rolls the pods over as a
// Deployment with maxSurge 1 and maxUnavailable 0 does. It tells Load, if set, which pods take
// traffic, and keeps the stats every pod it deleted wrote at exit (see Pod.ExitState), so that
// BackendLoads still counts pods that are gone. Set the exported fields before the first call,
// except Options, which may change between calls as a Deployment's pod template does (a
// rollout to a new version: pods started afterwards get the new options). RollOut and
// StartMany change many pods at once; the other changes (ScaleUp, Delete, RollingUpdate) each
// wait for every ring, and must not run at the same time as another change.
type Deployment struct {
	App *App
	// Name prefixes the names of the pods it starts: Name-0, Name-1, ...
	Name string
	// Options are the options of the pods it starts (Env carries the example's settings).
	Options PodOptions
	// PreStop is how long a graceful delete waits before SIGTERM; zero means DefaultPreStop.
	PreStop time.Duration
	// Load, if set, sends Gets to a pod once it is ready and no more once its delete begins.
	Load *Load
	// Logf, if set, hears what each step did and when.
	Logf func(format string, args ...any)

	mu      sync.Mutex
	pods    []*Pod         // running and not terminating, in the order started
	started []*Pod         // every pod started, for Stop
	last    map[*Pod]Stats // the last stats of deleted pods: their exit state once Delete returned
	seq     int
}

// Adopt takes running, Ready pods started elsewhere (with App.StartPod) into the deployment,
// as a Deployment adopts the pods its selector matches: they take traffic and are rolled
// over like its own.
func (d *Deployment) Adopt(pods ...*Pod) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, p := range pods {
		d.started = append(d.started, p)
		d.pods = append(d.pods, p)
		if d.Load != nil {
			d.Load.Add(p)
		}
	}
}

// Pods returns the pods that take traffic: running and not terminating.
func (d *Deployment) Pods() []*Pod {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.pods)
}

// Scale starts pods until there are n, each as ScaleUp does.
func (d *Deployment) Scale(ctx context.Context, n int) error {
	for len(d.Pods()) < n {
		if _, err := d.ScaleUp(ctx); err != nil {
			return err
		}
	}
	return nil
}

// ScaleUp starts one more pod, Ready, and waits until every pod's ring, its own included,
// holds it. The pod takes traffic from the moment it is Ready.
func (d *Deployment) ScaleUp(ctx context.Context) (*Pod, error) {
	start := time.Now()
	p, err := d.start(ctx)
	if err != nil {
		return nil, err
	}
	ready := time.Now()
	pods := d.Pods()
	last, err := waitRingsWithin(ctx, pods, pods)
	if err != nil {
		return p, err
	}
	d.logf("%s started and Ready in %s; every ring (%d pods) held it %s later",
		p.Name, ready.Sub(start).Round(time.Millisecond), len(pods), max(0, last.Sub(ready)).Round(time.Millisecond))
	return p, nil
}

// start starts the next pod, Ready, and makes it take traffic; it does not wait for rings.
func (d *Deployment) start(ctx context.Context) (*Pod, error) {
	d.mu.Lock()
	name := d.Name + "-" + strconv.Itoa(d.seq)
	d.seq++
	d.mu.Unlock()
	p, err := d.App.StartPod(ctx, name, d.Options)
	if err != nil {
		return nil, err
	}
	d.mu.Lock()
	d.started = append(d.started, p)
	d.pods = append(d.pods, p)
	d.mu.Unlock()
	if d.Load != nil {
		d.Load.Add(p)
	}
	return p, nil
}

// StartMany starts n more pods, at most parallel at a time, as a ReplicaSet scaled up and
// its kubelets do, and waits until every pod's ring holds every pod. It returns when that
// happened.
func (d *Deployment) StartMany(ctx context.Context, n, parallel int) (time.Time, error) {
	sem := make(chan struct{}, max(1, parallel))
	errs := make(chan error, n)
	for range n {
		sem <- struct{}{}
		go func() {
			defer func() { <-sem }()
			_, err := d.start(ctx)
			errs <- err
		}()
	}
	var first error
	for range n {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	if first != nil {
		return time.Time{}, first
	}
	pods := d.Pods()
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	return WaitRings(ctx, pods, pods)
}

// Delete deletes p gracefully, as the kubelet does with a preStop hook: p stops taking traffic
// and its Pod turns terminating; after PreStop, once the other pods' rings have dropped it (on
// time, that is well within PreStop), its stats are read (a terminating pod still answers) and
// it gets SIGTERM; it drains and exits, cleanly, and its Pod is removed. The example closes its
// HTTP server at SIGTERM: what its drain did, and its last counters, come from the exit state
// it wrote once its drain and stop were over (Pod.ExitState), which it must have written.
func (d *Deployment) Delete(ctx context.Context, p *Pod) error {
	begin := time.Now()
	preStop, err := d.beginDelete(ctx, p)
	if err != nil {
		return err
	}
	defer preStop.Stop()
	pods := d.Pods()
	dropped, err := waitRingsWithin(ctx, pods, pods)
	if err != nil {
		return err
	}
	return d.finishDelete(ctx, p, begin, dropped, preStop)
}

// Retire deletes p gracefully as Delete does, without waiting for any ring: p stops taking
// traffic and turns terminating; after PreStop its stats are read and it gets SIGTERM, drains
// and exits. Several may run at once, and at the same time as StartMany or RollOut's own.
func (d *Deployment) Retire(ctx context.Context, p *Pod) error {
	begin := time.Now()
	preStop, err := d.beginDelete(ctx, p)
	if err != nil {
		return err
	}
	defer preStop.Stop()
	return d.finishDelete(ctx, p, begin, time.Time{}, preStop)
}

// beginDelete takes p out of the pods that take traffic and begins its delete; it returns
// the timer of its preStop.
func (d *Deployment) beginDelete(ctx context.Context, p *Pod) (*time.Timer, error) {
	d.mu.Lock()
	i := slices.Index(d.pods, p)
	if i >= 0 {
		d.pods = slices.Delete(d.pods, i, i+1)
	}
	d.mu.Unlock()
	if i < 0 {
		return nil, fmt.Errorf("delete %s: not a running pod of deployment %s", p.Name, d.Name)
	}
	if d.Load != nil {
		d.Load.Remove(p)
	}
	preStop := time.NewTimer(cmp.Or(d.PreStop, DefaultPreStop))
	if err := p.BeginDelete(ctx); err != nil {
		preStop.Stop()
		return nil, err
	}
	return preStop, nil
}

// finishDelete waits for the end of p's preStop, reads its stats, sends SIGTERM and waits
// for its clean exit and its exit state. dropped, if set, is when the other rings dropped p.
func (d *Deployment) finishDelete(ctx context.Context, p *Pod, begin, dropped time.Time, preStop *time.Timer) error {
	select {
	case <-preStop.C:
	case <-ctx.Done():
		return ctx.Err()
	}
	// A fallback for the exit state, which must come and replaces them: a pod busy enough
	// may fail to answer (a closed keep-alive connection, on a machine running 150 pods).
	if s, err := p.Stats(ctx); err == nil {
		d.keep(p, s)
	} else {
		d.logf("%s: reading its stats before SIGTERM: %v; its exit state will tell", p.Name, err)
	}
	sigterm := time.Now()
	if err := p.FinishDelete(ctx); err != nil {
		if p.ExitError() == nil {
			return err // the removal's
		}
		return fmt.Errorf("pod %s exited with %v after SIGTERM; want a clean exit; log ends:\n%s", p.Name, err, p.Log(10))
	}
	exited := time.Since(sigterm)
	final, err := p.ExitState()
	if err != nil {
		return fmt.Errorf("%w; log ends:\n%s", err, p.Log(10))
	}
	d.keep(p, final.Stats)
	loads := d.lastStats(p).BackendLoads
	if dropped.IsZero() {
		d.logf("%s deleted: SIGTERM after %s; exited %s later (%s); %d backend loads",
			p.Name, sigterm.Sub(begin).Round(time.Millisecond), exited.Round(time.Millisecond), final, loads)
		return nil
	}
	d.logf("%s deleted: the other rings dropped it %s after the delete began; SIGTERM after %s; exited %s later (%s); %d backend loads",
		p.Name, max(0, dropped.Sub(begin)).Round(time.Millisecond), sigterm.Sub(begin).Round(time.Millisecond),
		exited.Round(time.Millisecond), final, loads)
	return nil
}

// lastStats returns the last stats kept of p.
func (d *Deployment) lastStats(p *Pod) Stats {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.last[p]
}

// keep remembers s as p's last stats, unless they are older than the ones kept (counters
// only grow).
func (d *Deployment) keep(p *Pod, s Stats) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.last == nil {
		d.last = map[*Pod]Stats{}
	}
	if old, ok := d.last[p]; !ok || s.BackendLoads >= old.BackendLoads {
		d.last[p] = s
	}
}

// RollingUpdate replaces every pod, oldest first, as a Deployment with maxSurge 1 and
// maxUnavailable 0 does: for each old pod it starts a new one and waits until it is Ready and
// in every ring (ScaleUp), then deletes the old one gracefully and waits until it is gone
// (Delete).
func (d *Deployment) RollingUpdate(ctx context.Context) error {
	for _, old := range d.Pods() {
		if _, err := d.ScaleUp(ctx); err != nil {
			return err
		}
		if err := d.Delete(ctx, old); err != nil {
			return err
		}
	}
	return nil
}

// RollOut replaces every pod as a Deployment's controller does with maxSurge and
// maxUnavailable (pod counts; the default 25 % of 150 pods is 38 and 37, rounded as
// Kubernetes rounds them: surge up, unavailability down): it starts new pods while the pods
// not terminating are fewer than the replicas plus maxSurge, and deletes old ones (Retire)
// while the old pods not yet deleting and the new ones Ready are more than the replicas less
// maxUnavailable, each at once, as the controller's scale-ups and scale-downs do, until every
// old pod is gone and as many new pods are Ready. It waits for no ring: the controller knows
// only readiness. On the first error it cancels what is under way and returns that error.
func (d *Deployment) RollOut(ctx context.Context, maxSurge, maxUnavailable int) error {
	old := d.Pods()
	n := len(old)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type done struct {
		started bool
		err     error
	}
	events := make(chan done)
	created, ready, running := 0, 0, 0
	var first error
	for {
		for first == nil {
			create, del := rolloutStep(n, maxSurge, maxUnavailable, len(old), created, ready)
			if create == 0 && del == 0 {
				break
			}
			for range create {
				created++
				running++
				go func() {
					_, err := d.start(ctx)
					events <- done{started: true, err: err}
				}()
			}
			for _, p := range old[:del] {
				running++
				go func() { events <- done{err: d.Retire(ctx, p)} }()
			}
			old = old[del:]
			d.logf("rollout: %d new pods created, %d Ready; %d old pods not yet deleting", created, ready, len(old))
		}
		if running == 0 {
			return first
		}
		ev := <-events
		running--
		switch {
		case ev.err != nil && first == nil:
			first = ev.err
			cancel()
		case ev.err == nil && ev.started:
			ready++
		}
	}
}

// rolloutStep is what a Deployment's controller does next in a rolling update of n
// replicas: how many new pods to create and how many old ones to delete, given the old pods
// not yet deleting, the new pods created and those of them Ready. Terminating pods count
// for neither bound, as for the controller.
func rolloutStep(n, maxSurge, maxUnavailable, old, created, ready int) (create, del int) {
	create = max(0, min(n-created, n+maxSurge-old-created))
	del = max(0, min(old, old+ready-(n-maxUnavailable)))
	return create, del
}

// BackendLoads returns how many times the backend ran in every pod the deployment ever
// started: for a running pod as its /stats tell now, for a pod that is gone as its exit state
// tells.
func (d *Deployment) BackendLoads(ctx context.Context) (int64, error) {
	all, err := d.Stats(ctx)
	if err != nil {
		return 0, err
	}
	return sumBackendLoads(all), nil
}

// Stats returns the stats of every pod the deployment ever started, by name: a running pod's
// /stats now, a deleted pod's exit state.
func (d *Deployment) Stats(ctx context.Context) (map[string]Stats, error) {
	d.mu.Lock()
	started, last := slices.Clone(d.started), maps.Clone(d.last)
	d.mu.Unlock()
	all := make(map[string]Stats, len(started))
	for _, p := range started {
		if s, gone := last[p]; gone {
			all[p.Name] = s
			continue
		}
		s, err := p.Stats(ctx)
		if err != nil {
			return nil, err
		}
		all[p.Name] = s
	}
	return all, nil
}

func sumBackendLoads(all map[string]Stats) int64 {
	var total int64
	for _, s := range all {
		total += s.BackendLoads
	}
	return total
}

// Started returns every pod the deployment started, in order, gone ones included.
func (d *Deployment) Started() []*Pod {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.started)
}

// Stop stops every pod still running, all at once (see Pod.Stop).
func (d *Deployment) Stop() {
	var wg sync.WaitGroup
	for _, p := range d.Started() {
		wg.Go(p.Stop)
	}
	wg.Wait()
}

func (d *Deployment) logf(format string, args ...any) {
	if d.Logf != nil {
		d.Logf(format, args...)
	}
}

// waitRingsWithin is WaitRings bounded by a minute: convergence takes milliseconds.
func waitRingsWithin(ctx context.Context, on, members []*Pod) (time.Time, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	return WaitRings(ctx, on, members)
}
