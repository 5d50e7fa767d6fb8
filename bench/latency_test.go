package bench

// The load loop of the remote benchmarks: a fixed number of calls spread over a fixed
// number of concurrent callers, each call's latency recorded in a per-caller histogram
// allocated before the loop, so that recording allocates nothing and shares nothing.

import (
	"math/bits"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// histBuckets covers latencies up to 2^40 ns (18 minutes) with 64 buckets per octave,
// so a quantile is off by at most 1/64 (1.6 %).
const histBuckets = 34*64 + 128

// histogram counts latencies in nanoseconds, log-linearly: values below 128 have a
// bucket each; above, each power of two is cut into 64 equal buckets.
type histogram [histBuckets]uint64

func bucketOf(ns uint64) int {
	shift := max(bits.Len64(ns)-7, 0)
	return min(shift*64+int(ns>>shift), histBuckets-1)
}

// bucketValue is the middle of bucket i.
func bucketValue(i int) float64 {
	if i < 128 {
		return float64(i)
	}
	shift := i/64 - 1
	low := uint64(i-shift*64) << shift
	return float64(low) + float64(uint64(1)<<shift)/2
}

func (h *histogram) add(d time.Duration) { h[bucketOf(uint64(max(d, 0)))]++ }

func (h *histogram) merge(o *histogram) {
	for i := range h {
		h[i] += o[i]
	}
}

// quantile returns the q-quantile (0 < q ≤ 1) of the recorded latencies, in ns.
func (h *histogram) quantile(q float64) float64 {
	var total uint64
	for _, c := range h {
		total += c
	}
	if total == 0 {
		return 0
	}
	rank := uint64(q*float64(total) + 0.5)
	rank = min(max(rank, 1), total)
	var seen uint64
	for i, c := range h {
		if seen += c; seen >= rank {
			return bucketValue(i)
		}
	}
	return bucketValue(histBuckets - 1)
}

// loadResult is what one run of the load loop measured.
type loadResult struct {
	elapsed        time.Duration
	latency        histogram
	mallocs, bytes uint64 // heap allocations of the whole process during the calls
	errors         int64
	lastErr        error
}

// maxCallers bounds the callers of one run; their histograms are allocated once.
const maxCallers = 64

var callerHists = new([maxCallers]histogram)

// runLoad makes n calls of call(i), i = 0…n-1, from callers goroutines that take the next
// i as they become free, and fills r with the wall time, the latency of every call and
// the allocations made while the calls ran (the goroutines are started before). It is
// not safe to run twice at once (the histograms are shared).
func runLoad(r *loadResult, n, callers int, call func(i int) error) {
	callers = min(max(callers, 1), maxCallers)
	for i := range callers {
		clear(callerHists[i][:])
	}
	var next, errs atomic.Int64
	var mu sync.Mutex // guards lastErr
	var lastErr error
	var wg sync.WaitGroup
	start := make(chan struct{})
	for c := range callers {
		wg.Go(func() {
			h := &callerHists[c]
			<-start
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				t0 := time.Now()
				err := call(i)
				h.add(time.Since(t0))
				if err != nil {
					errs.Add(1)
					mu.Lock()
					lastErr = err
					mu.Unlock()
				}
			}
		})
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	t0 := time.Now()
	close(start)
	wg.Wait()
	r.elapsed = time.Since(t0)
	runtime.ReadMemStats(&after)
	r.mallocs, r.bytes = after.Mallocs-before.Mallocs, after.TotalAlloc-before.TotalAlloc
	r.errors, r.lastErr = errs.Load(), lastErr
	clear(r.latency[:])
	for i := range callers {
		r.latency.merge(&callerHists[i])
	}
}
