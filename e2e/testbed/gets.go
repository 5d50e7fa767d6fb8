package testbed

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// WantValue is what the example's loader answers for key; every Get through any pod must
// return it.
func WantValue(key string) string { return "value of " + key }

// GetAll asks every key through pods round-robin (key i through pods[i % len(pods)]), at most
// inFlight at a time (one at a time, in order, if inFlight is 1 or less), and checks every
// value. It returns the answers and how long each Get took, both in the order of keys, and
// the error of the first key (in that order) whose Get failed or returned a wrong value.
func GetAll(ctx context.Context, pods []*Pod, keys []string, inFlight int) ([]GetResult, []time.Duration, error) {
	if len(pods) == 0 && len(keys) > 0 {
		return nil, nil, errors.New("GetAll: no pods to ask")
	}
	results := make([]GetResult, len(keys))
	durations := make([]time.Duration, len(keys))
	errs := make([]error, len(keys))
	var wg sync.WaitGroup
	sem := make(chan struct{}, max(1, inFlight))
	for i, key := range keys {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			p := pods[i%len(pods)]
			start := time.Now()
			r, err := p.Get(ctx, key)
			durations[i] = time.Since(start)
			if err == nil && r.Value != WantValue(key) {
				err = fmt.Errorf("Get(%q) through %s = %q", key, p.Name, r.Value)
			}
			results[i], errs[i] = r, err
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return results, durations, err
		}
	}
	return results, durations, nil
}

// TimedGet is one Get of GetAtOnce: the pod asked, the key, the answer or error, and how long
// it took.
type TimedGet struct {
	Pod    *Pod
	Key    string
	Result GetResult
	Took   time.Duration
	Err    error
}

// GetAtOnce asks every key through every pod, all requests at the same instant (one goroutine
// each, released together), each Get with the deadline timeout, as an HTTP handler's would
// have. It returns the answers key by key, pods in order within a key, and checks nothing.
func GetAtOnce(ctx context.Context, pods []*Pod, keys []string, timeout time.Duration) []TimedGet {
	gets := make([]TimedGet, 0, len(keys)*len(pods))
	for _, key := range keys {
		for _, p := range pods {
			gets = append(gets, TimedGet{Pod: p, Key: key})
		}
	}
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range gets {
		g := &gets[i]
		wg.Go(func() {
			<-start
			t0 := time.Now()
			g.Result, g.Err = g.Pod.GetWithTimeout(ctx, g.Key, timeout)
			g.Took = time.Since(t0)
		})
	}
	close(start)
	wg.Wait()
	return gets
}
