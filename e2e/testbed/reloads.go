package testbed

import (
	"context"
	"fmt"
	"time"
)

// settlePasses is how many full passes over the working set a change must be followed by
// before the backend loads are counted again: the first asks every key once under the new
// rings, the second shows that nothing more moves.
const settlePasses = 2

// Reloads is what MeasureReloads measured.
type Reloads struct {
	// Keys is the size of the working set.
	Keys int
	// Before and After are the backend loads of every pod the deployment ever ran, once the
	// working set was warm and once the change had settled; Reloaded is the difference.
	Before, After, Reloaded int64
	// Gets counts the Gets the load generator made, P50, P99 and Max are how long they
	// took, and Failures are those that failed.
	Gets          int
	P50, P99, Max time.Duration
	Failures      []LoadFailure
	// Slowest are the slowest Gets (see Load.Slowest), slowest first.
	Slowest []SlowGet
	// NewLoaders are the answers, from the start of the change on, that named a pod as the
	// loader of a key for the first time: a value loaded again, and by whom.
	NewLoaders []Loaded
	// Start is when the change started; Took how long it took until it had settled.
	Start time.Time
	Took  time.Duration
	// Pods are the stats of every pod once the change had settled, by name (see
	// Deployment.Stats).
	Pods map[string]Stats
}

// MeasureReloads measures how many keys of a warm working set a change to d makes the pods load
// from their backends again. It starts a load generator (a Load of keys through d's pods,
// callers at a time), waits until it has made warm passes over the keys, and sums the backend
// loads of the pods (Before); it makes the change with the Load attached to d, so that pods
// take traffic when Ready and stop when their delete begins; it waits for settlePasses more
// full passes over the keys and sums again (After), counting deleted pods by the stats they
// wrote at exit (see Deployment.Delete). The Load runs from start to end.
//
// One warm pass asks every key once, which loads it and caches it at its owner, when the pods
// are fresh. Pods with a past may hold copies of keys they do not own (a pod whose call to a
// key's owner failed loads the key and keeps it), and answer those from their own cache
// without asking the owner; as many warm passes as there are pods ask every key through every
// pod, and so its owner too.
func MeasureReloads(ctx context.Context, d *Deployment, keys []string, callers, warm int, change func(context.Context) error) (Reloads, error) {
	r := Reloads{Keys: len(keys)}
	load := StartLoad(ctx, keys, callers, d.Pods()...)
	d.Load = load
	defer func() {
		load.Stop()
		d.Load = nil
	}()
	if err := load.WaitPasses(ctx, max(1, warm)); err != nil {
		return r, fmt.Errorf("warming the working set: %w", err)
	}
	var err error
	if r.Before, err = d.BackendLoads(ctx); err != nil {
		return r, err
	}
	seen := len(load.Loads())
	r.Start = time.Now()
	if err := change(ctx); err != nil {
		return r, err
	}
	if err := load.WaitPasses(ctx, settlePasses); err != nil {
		return r, fmt.Errorf("after the change: %w", err)
	}
	r.Took = time.Since(r.Start)
	if r.Pods, err = d.Stats(ctx); err != nil {
		return r, err
	}
	r.After = sumBackendLoads(r.Pods)
	r.Reloaded = r.After - r.Before
	r.Gets, r.Failures, r.NewLoaders = load.Gets(), load.Failures(), load.Loads()[seen:]
	r.P50, r.P99, r.Max = Percentiles(load.Durations())
	r.Slowest = load.Slowest()
	return r, nil
}
