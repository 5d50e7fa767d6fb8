package testbed

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"
	"time"
)

// Load asks a working set of keys continuously through the pods that take traffic, as the
// clients of a Service would, until Stop. Its Gets are numbered in the order they start: Get n
// asks key n mod len(keys), so each run of len(keys) Gets (a pass) asks every key once, through
// the pods round-robin, shifted by one pod each pass (see pick). A pod takes traffic from Add
// until Remove: a Service stops sending to a pod once its deletion begins.
type Load struct {
	keys   []string
	every  time.Duration // a paced Load's one caller starts a Get this often; 0: at once
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu       sync.Mutex
	pods     []*Pod
	next     int // number of the next Get to start
	passes   passCounter
	passed   chan struct{} // closed and replaced whenever a pass completes
	gets     int
	took     []time.Duration // how long each answered Get took, in the order they ended
	failures []LoadFailure
	loaders  map[string][]string // by key, every pod named as its loader, in the order seen
	loads    []Loaded            // when each of those was first seen
	slowest  []SlowGet           // the keptSlowest slowest Gets so far, slowest first
}

// keptSlowest is how many of its slowest Gets a Load keeps.
const keptSlowest = 10

// SlowGet is one of the slowest Gets of a Load: when it started, the key, the pod asked, how
// long it took, and the answer (its owner and loader) or the error.
type SlowGet struct {
	Start    time.Time
	Key, Pod string
	Took     time.Duration
	Result   GetResult
	Err      error
}

// LoadFailure is a Get of a Load that failed or returned a wrong value: when it ended, how
// long it took, the key, the pod asked and the error.
type LoadFailure struct {
	At       time.Time
	Took     time.Duration
	Key, Pod string
	Err      error
}

// Loaded is the first answer that named Pod as the loader of Key: the value came from a load
// by Pod's backend (or from a copy of that value).
type Loaded struct {
	At                 time.Time
	Key, LoadedBy, Via string // Via is the pod asked
}

// StartLoad starts callers goroutines that ask keys through pods (see Load) until Stop.
func StartLoad(ctx context.Context, keys []string, callers int, pods ...*Pod) *Load {
	ctx, cancel := context.WithCancel(ctx)
	l := &Load{keys: keys, cancel: cancel, pods: slices.Clone(pods), passes: newPassCounter(len(keys)),
		passed: make(chan struct{}), loaders: map[string][]string{}}
	for range max(1, callers) {
		l.wg.Go(func() { l.call(ctx) })
	}
	return l
}

// StartPacedLoad starts one caller that asks keys through pods (see Load), one Get every
// every, until Stop: a steady trickle of traffic rather than as much as the pods answer.
func StartPacedLoad(ctx context.Context, keys []string, every time.Duration, pods ...*Pod) *Load {
	ctx, cancel := context.WithCancel(ctx)
	l := &Load{keys: keys, every: every, cancel: cancel, pods: slices.Clone(pods), passes: newPassCounter(len(keys)),
		passed: make(chan struct{}), loaders: map[string][]string{}}
	l.wg.Go(func() { l.call(ctx) })
	return l
}

// call is one caller: it takes the next Get, does it, and records it, until ctx ends.
func (l *Load) call(ctx context.Context) {
	var pace <-chan time.Time
	if l.every > 0 {
		ticker := time.NewTicker(l.every)
		defer ticker.Stop()
		pace = ticker.C
	}
	for ctx.Err() == nil {
		if pace != nil {
			select {
			case <-pace:
			case <-ctx.Done():
				return
			}
		}
		l.mu.Lock()
		n := l.next
		if len(l.pods) == 0 || len(l.keys) == 0 {
			l.mu.Unlock()
			select {
			case <-ctx.Done():
			case <-time.After(10 * time.Millisecond):
			}
			continue
		}
		l.next++
		k, i := pick(n, len(l.keys), len(l.pods))
		key, p := l.keys[k], l.pods[i]
		l.mu.Unlock()

		start := time.Now()
		r, err := p.Get(ctx, key)
		took := time.Since(start)
		if ctx.Err() != nil {
			return // stopped: the Get was cut short, not failed
		}
		if err == nil && r.Value != WantValue(key) {
			err = fmt.Errorf("Get(%q) through %s = %q, want %q", key, p.Name, r.Value, WantValue(key))
		}
		l.record(n, key, p, r, start, took, err)
	}
}

// record counts Get n, which started at start and took took, and what it told.
func (l *Load) record(n int, key string, p *Pod, r GetResult, start time.Time, took time.Duration, err error) {
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.gets++
	l.took = append(l.took, took)
	if len(l.slowest) < keptSlowest || took > l.slowest[len(l.slowest)-1].Took {
		i, _ := slices.BinarySearchFunc(l.slowest, took, func(g SlowGet, d time.Duration) int { return cmp.Compare(d, g.Took) })
		l.slowest = slices.Insert(l.slowest, i, SlowGet{Start: start, Key: key, Pod: p.Name, Took: took, Result: r, Err: err})
		l.slowest = l.slowest[:min(len(l.slowest), keptSlowest)]
	}
	if err != nil {
		l.failures = append(l.failures, LoadFailure{At: now, Took: took, Key: key, Pod: p.Name, Err: err})
	} else if !slices.Contains(l.loaders[key], r.LoadedBy) {
		l.loaders[key] = append(l.loaders[key], r.LoadedBy)
		l.loads = append(l.loads, Loaded{At: now, Key: key, LoadedBy: r.LoadedBy, Via: p.Name})
	}
	if l.passes.finish(n) {
		close(l.passed)
		l.passed = make(chan struct{})
	}
}

// pick returns which key and which pod Get n asks: key n mod keys, through the pods in turn,
// each pass starting one pod further than the one before, so that over as many passes as
// there are pods every key is asked through every pod.
func pick(n, keys, pods int) (key, pod int) {
	key = n % keys
	return key, (key + n/keys) % pods
}

// Add makes p take traffic.
func (l *Load) Add(p *Pod) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !slices.Contains(l.pods, p) {
		l.pods = append(l.pods, p)
	}
}

// Remove stops sending new Gets to p; Gets already sent to it finish.
func (l *Load) Remove(p *Pod) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.pods = slices.DeleteFunc(l.pods, func(q *Pod) bool { return q == p })
}

// WaitPasses waits until n more passes over the keys are complete: n runs of len(keys)
// Gets that all started after the call, every one of them answered.
func (l *Load) WaitPasses(ctx context.Context, n int) error {
	l.mu.Lock()
	target := l.passes.startedBy(l.next) + n
	l.mu.Unlock()
	for {
		l.mu.Lock()
		complete, passed := l.passes.complete, l.passed
		l.mu.Unlock()
		if complete >= target {
			return nil
		}
		select {
		case <-passed:
		case <-ctx.Done():
			return fmt.Errorf("load: %d of %d passes over %d keys complete: %w", complete, target, len(l.keys), ctx.Err())
		}
	}
}

// Gets returns how many Gets were answered or failed so far.
func (l *Load) Gets() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.gets
}

// Durations returns how long each Get took so far, in the order they ended.
func (l *Load) Durations() []time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.took)
}

// Failures returns the Gets that failed so far, in the order they ended.
func (l *Load) Failures() []LoadFailure {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.failures)
}

// Slowest returns the slowest Gets so far (at most ten), slowest first.
func (l *Load) Slowest() []SlowGet {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.slowest)
}

// Loads returns, for each key and each pod named as its loader, the first answer that named
// it, in the order they came. A key listed with a second loader was loaded again.
func (l *Load) Loads() []Loaded {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.loads)
}

// Stop stops the callers and waits for them; Gets cut short are not counted.
func (l *Load) Stop() {
	l.cancel()
	l.wg.Wait()
}

// passCounter counts the finished Gets of each pass (Get n is in pass n / size) and how many
// passes, from the first, are complete.
type passCounter struct {
	size     int
	finished map[int]int // by pass, for the passes not yet complete
	complete int         // passes 0 to complete-1 are complete
}

func newPassCounter(size int) passCounter {
	return passCounter{size: max(1, size), finished: map[int]int{}}
}

// finish counts Get n as finished, and reports whether that completed a pass.
func (c *passCounter) finish(n int) bool {
	c.finished[n/c.size]++
	completed := false
	for c.finished[c.complete] == c.size {
		delete(c.finished, c.complete)
		c.complete++
		completed = true
	}
	return completed
}

// startedBy returns how many passes had started once Gets 0 to next-1 had started: a pass
// half started counts.
func (c *passCounter) startedBy(next int) int {
	return (next + c.size - 1) / c.size
}
