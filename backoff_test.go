package k8s

// Tests of the backoff schedule: its steps, its jitter and when it starts again.

import (
	"testing"
	"time"
)

func TestBackoffSchedule(t *testing.T) {
	// With rand = 0 each delay is the un-jittered schedule of client-go's reflector.
	b := backoff{rand: func() float64 { return 0 }}
	now := time.Unix(0, 0)
	want := []time.Duration{800 * time.Millisecond, 1600 * time.Millisecond, 3200 * time.Millisecond,
		6400 * time.Millisecond, 12800 * time.Millisecond, 25600 * time.Millisecond, 30 * time.Second, 30 * time.Second}
	for i, w := range want {
		if got := b.failure(now); got != w {
			t.Errorf("failure %d: delay %v, want %v", i+1, got, w)
		}
	}
}

func TestBackoffJitterBounds(t *testing.T) {
	for _, r := range []float64{0, 0.25, 0.999999} {
		b := backoff{rand: func() float64 { return r }}
		base := backoffInitial
		for i := 0; i < 10; i++ {
			d := b.failure(time.Unix(0, 0))
			if d < base || d >= 2*base {
				t.Fatalf("rand %v, failure %d: delay %v outside [%v, %v)", r, i+1, d, base, 2*base)
			}
			base = min(2*base, backoffMax)
		}
	}
	// The real random source stays inside the bounds too.
	b := backoff{rand: defaultRand}
	for i := 0; i < 1000; i++ {
		b.next = 0
		if d := b.failure(time.Unix(0, 0)); d < backoffInitial || d >= 2*backoffInitial {
			t.Fatalf("delay %v outside [%v, %v)", d, backoffInitial, 2*backoffInitial)
		}
	}
}

func TestBackoffResetsOnlyAfterAHealthyPeriod(t *testing.T) {
	b := backoff{rand: func() float64 { return 0 }}
	t0 := time.Unix(0, 0)
	b.failure(t0)
	b.failure(t0) // next would be 3.2 s
	cases := []struct {
		name       string
		healthyFor time.Duration
		wantOnNext time.Duration
	}{
		{"healthy for a moment: the schedule goes on", time.Second, 3200 * time.Millisecond},
		{"healthy just under the reset period: goes on", backoffResetAfter - time.Millisecond, 6400 * time.Millisecond},
		{"healthy for the reset period: starts again", backoffResetAfter, backoffInitial},
	}
	now := t0
	for _, tc := range cases {
		b.success(now)
		b.success(now.Add(tc.healthyFor / 2)) // a later success does not move the start
		now = now.Add(tc.healthyFor)
		if got := b.failure(now); got != tc.wantOnNext {
			t.Errorf("%s: delay %v, want %v", tc.name, got, tc.wantOnNext)
		}
	}
	// Failing continuously, however long, never resets (unlike client-go's periodic reset).
	for i := 0; i < 20; i++ {
		now = now.Add(10 * time.Minute)
		b.failure(now)
	}
	if got := b.failure(now.Add(time.Hour)); got != backoffMax {
		t.Errorf("after a long outage the delay is %v, want %v", got, backoffMax)
	}
}
