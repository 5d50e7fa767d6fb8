package testbed

import (
	"math"
	"slices"
	"time"
)

// Percentiles returns the median, the 99th percentile (both nearest-rank) and the maximum of
// ds, in any order; zeros if ds is empty.
func Percentiles(ds []time.Duration) (p50, p99, worst time.Duration) {
	if len(ds) == 0 {
		return 0, 0, 0
	}
	sorted := slices.Sorted(slices.Values(ds))
	return nearestRank(sorted, 50), nearestRank(sorted, 99), sorted[len(sorted)-1]
}

// nearestRank returns the nearest-rank p-th percentile of sorted (ascending, not empty): the
// smallest value with at least p % of the values at or below it.
func nearestRank(sorted []time.Duration, p float64) time.Duration {
	i := int(math.Ceil(p/100*float64(len(sorted)))) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

// Millis returns d in milliseconds.
func Millis(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
