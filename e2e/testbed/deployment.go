package testbed

import (
	"cmp"
	"context"
	"fmt"
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
// rollout to a new version: pods started afterwards get the new options); the methods are not
// safe for concurrent use.
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

	pods    []*Pod         // running and not terminating, in the order started
	started []*Pod         // every pod started, for Stop
	last    map[*Pod]Stats // the last stats of deleted pods: their exit state once Delete returned
	seq     int
}

// Adopt takes running, Ready pods started elsewhere (with App.StartPod) into the deployment,
// as a Deployment adopts the pods its selector matches: they take traffic and are rolled
// over like its own.
func (d *Deployment) Adopt(pods ...*Pod) {
	for _, p := range pods {
		d.started = append(d.started, p)
		d.pods = append(d.pods, p)
		if d.Load != nil {
			d.Load.Add(p)
		}
	}
}

// Pods returns the pods that take traffic: running and not terminating.
func (d *Deployment) Pods() []*Pod { return slices.Clone(d.pods) }

// Scale starts pods until there are n, each as ScaleUp does.
func (d *Deployment) Scale(ctx context.Context, n int) error {
	for len(d.pods) < n {
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
	p, err := d.App.StartPod(ctx, d.Name+"-"+strconv.Itoa(d.seq), d.Options)
	if err != nil {
		return nil, err
	}
	d.seq++
	d.started = append(d.started, p)
	d.pods = append(d.pods, p)
	if d.Load != nil {
		d.Load.Add(p)
	}
	ready := time.Now()
	last, err := waitRingsWithin(ctx, d.pods, d.pods)
	if err != nil {
		return p, err
	}
	d.logf("%s started and Ready in %s; every ring (%d pods) held it %s later",
		p.Name, ready.Sub(start).Round(time.Millisecond), len(d.pods), max(0, last.Sub(ready)).Round(time.Millisecond))
	return p, nil
}

// Delete deletes p gracefully, as the kubelet does with a preStop hook: p stops taking traffic
// and its Pod turns terminating; after PreStop, once the other pods' rings have dropped it (on
// time, that is well within PreStop), its stats are read (a terminating pod still answers) and
// it gets SIGTERM; it drains and exits, cleanly, and its Pod is removed. The example closes its
// HTTP server at SIGTERM: what its drain did, and its last counters, come from the exit state
// it wrote once its drain and stop were over (Pod.ExitState), which it must have written.
func (d *Deployment) Delete(ctx context.Context, p *Pod) error {
	i := slices.Index(d.pods, p)
	if i < 0 {
		return fmt.Errorf("delete %s: not a running pod of deployment %s", p.Name, d.Name)
	}
	d.pods = slices.Delete(d.pods, i, i+1)
	if d.Load != nil {
		d.Load.Remove(p)
	}
	begin := time.Now()
	if err := p.BeginDelete(ctx); err != nil {
		return err
	}
	preStop := time.NewTimer(cmp.Or(d.PreStop, DefaultPreStop))
	defer preStop.Stop()
	dropped, err := waitRingsWithin(ctx, d.pods, d.pods)
	if err != nil {
		return err
	}
	select {
	case <-preStop.C:
	case <-ctx.Done():
		return ctx.Err()
	}
	s, err := p.Stats(ctx)
	if err != nil {
		return fmt.Errorf("reading %s's stats before SIGTERM: %w", p.Name, err)
	}
	d.keep(p, s)
	sigterm := time.Now()
	if err := p.FinishDelete(ctx); err != nil {
		return fmt.Errorf("pod %s exited with %v after SIGTERM; want a clean exit; log ends:\n%s", p.Name, err, p.Log(10))
	}
	exited := time.Since(sigterm)
	final, err := p.ExitState()
	if err != nil {
		return fmt.Errorf("%w; log ends:\n%s", err, p.Log(10))
	}
	d.keep(p, final.Stats)
	d.logf("%s deleted: the other rings dropped it %s after the delete began; SIGTERM after %s; exited %s later (%s); %d backend loads",
		p.Name, max(0, dropped.Sub(begin)).Round(time.Millisecond), sigterm.Sub(begin).Round(time.Millisecond),
		exited.Round(time.Millisecond), final, d.last[p].BackendLoads)
	return nil
}

// keep remembers s as p's last stats, unless they are older than the ones kept (counters
// only grow).
func (d *Deployment) keep(p *Pod, s Stats) {
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
	for _, old := range slices.Clone(d.pods) {
		if _, err := d.ScaleUp(ctx); err != nil {
			return err
		}
		if err := d.Delete(ctx, old); err != nil {
			return err
		}
	}
	return nil
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
	all := make(map[string]Stats, len(d.started))
	for _, p := range d.started {
		if s, gone := d.last[p]; gone {
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
func (d *Deployment) Started() []*Pod { return slices.Clone(d.started) }

// Stop stops every pod still running, all at once (see Pod.Stop).
func (d *Deployment) Stop() {
	var wg sync.WaitGroup
	for _, p := range d.started {
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
