package testbed

import (
	"testing"
	"time"
)

func TestPercentiles(t *testing.T) {
	ms := func(ns ...int) []time.Duration {
		out := make([]time.Duration, len(ns))
		for i, n := range ns {
			out[i] = time.Duration(n) * time.Millisecond
		}
		return out
	}
	hundred := make([]int, 100)
	for i := range hundred {
		hundred[i] = 100 - i // 100 down to 1
	}
	for _, tc := range []struct {
		name           string
		ds             []time.Duration
		p50, p99, most time.Duration
	}{
		{"empty", nil, 0, 0, 0},
		{"one", ms(7), 7 * time.Millisecond, 7 * time.Millisecond, 7 * time.Millisecond},
		// Nearest rank: the smallest value with at least p % at or below it.
		{"two", ms(2, 1), 1 * time.Millisecond, 2 * time.Millisecond, 2 * time.Millisecond},
		{"four, unsorted", ms(4, 1, 3, 2), 2 * time.Millisecond, 4 * time.Millisecond, 4 * time.Millisecond},
		{"1 to 100 ms, descending", ms(hundred...), 50 * time.Millisecond, 99 * time.Millisecond, 100 * time.Millisecond},
		{"an outlier in place of 100 ms sets only the maximum", append(ms(hundred[1:]...), time.Second), 50 * time.Millisecond, 99 * time.Millisecond, time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := append([]time.Duration(nil), tc.ds...)
			p50, p99, most := Percentiles(tc.ds)
			if p50 != tc.p50 || p99 != tc.p99 || most != tc.most {
				t.Errorf("Percentiles = %s, %s, %s; want %s, %s, %s", p50, p99, most, tc.p50, tc.p99, tc.most)
			}
			for i := range in {
				if tc.ds[i] != in[i] {
					t.Fatalf("Percentiles reordered its input: %v, was %v", tc.ds, in)
				}
			}
		})
	}
}

func TestMillis(t *testing.T) {
	for _, tc := range []struct {
		d    time.Duration
		want float64
	}{
		{0, 0},
		{time.Millisecond, 1},
		{1500 * time.Microsecond, 1.5},
		{2 * time.Second, 2000},
		{-time.Millisecond, -1},
	} {
		if got := Millis(tc.d); got != tc.want {
			t.Errorf("Millis(%s) = %v, want %v", tc.d, got, tc.want)
		}
	}
}
