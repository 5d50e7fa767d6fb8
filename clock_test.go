package k8s

// The fake clocks of the tests: an instant one for replays, one whose grace timers fire
// when the test says so, and one that tells when the watch loop starts a wait.

import (
	"slices"
	"sync"
	"testing"
	"time"
)

// fakeClock is an instant clock: waits end at once and advance its time, and are
// recorded. AfterFunc (the idle timeout) runs in real time.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	sleeps []time.Duration
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	c.sleeps = append(c.sleeps, d)
	ch := make(chan time.Time, 1)
	ch <- c.now
	return ch
}

func (c *fakeClock) AfterFunc(d time.Duration, f func()) timer { return time.AfterFunc(d, f) }

func (c *fakeClock) waits() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.sleeps...)
}

// withClock and withRand replace the watch loop's time and randomness in tests.
func withClock(c clock) Option { return func(cfg *config) { cfg.clock = c } }

func withRand(f func() float64) Option { return func(cfg *config) { cfg.rand = f } }

// manualClock is the real clock, except that timers of one duration (the grace
// period) fire only when the test says so.
type manualClock struct {
	realClock
	manual time.Duration
	mu     sync.Mutex
	timers []*manualTimer
}

type manualTimer struct {
	mu      sync.Mutex
	f       func()
	stopped bool
}

func (t *manualTimer) Stop() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	was := !t.stopped
	t.stopped = true
	return was
}

func (t *manualTimer) Reset(time.Duration) bool { panic("not used for grace timers") }

func newManualClock(manual time.Duration) *manualClock { return &manualClock{manual: manual} }

func (c *manualClock) AfterFunc(d time.Duration, f func()) timer {
	if d != c.manual {
		return time.AfterFunc(d, f)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &manualTimer{f: f}
	c.timers = append(c.timers, t)
	return t
}

// expire makes every pending manual timer fire without running its callback yet, as a
// real timer whose callback waits for a lock: Stop returns false from now on. It returns
// a function that runs those callbacks.
func (c *manualClock) expire() (runCallbacks func()) {
	c.mu.Lock()
	timers := c.timers
	c.timers = nil
	c.mu.Unlock()
	var fired []func()
	for _, t := range timers {
		if t.Stop() {
			fired = append(fired, t.f)
		}
	}
	return func() {
		for _, f := range fired {
			f()
		}
	}
}

// fireAll runs every pending manual timer that was not stopped.
func (c *manualClock) fireAll() {
	c.mu.Lock()
	timers := c.timers
	c.timers = nil
	c.mu.Unlock()
	for _, t := range timers {
		if t.Stop() {
			t.f()
		}
	}
}

// waitSignallingClock is the real clock, and tells when the loop starts a wait.
type waitSignallingClock struct {
	realClock
	waiting chan time.Duration
}

func (c *waitSignallingClock) After(d time.Duration) <-chan time.Time {
	select {
	case c.waiting <- d:
	default:
	}
	return time.After(d)
}

// TestManualClock checks the fixture the grace-period tests rely on: a manual timer fires
// only when told, Stop reports whether it was still pending, and expire makes Stop report
// false before the callback runs.
func TestManualClock(t *testing.T) {
	c := newManualClock(time.Hour)
	var fired []string
	a := c.AfterFunc(time.Hour, func() { fired = append(fired, "a") })
	b := c.AfterFunc(time.Hour, func() { fired = append(fired, "b") })
	stopped := c.AfterFunc(time.Hour, func() { fired = append(fired, "stopped") })
	if !stopped.Stop() {
		t.Fatal("Stop of a pending timer = false, want true")
	}
	run := c.expire()
	if a.Stop() || b.Stop() {
		t.Error("Stop after expire = true, want false: the timers have fired")
	}
	if len(fired) != 0 {
		t.Fatalf("callbacks ran before the test ran them: %v", fired)
	}
	run()
	if want := []string{"a", "b"}; !slices.Equal(fired, want) {
		t.Errorf("callbacks run = %v, want %v", fired, want)
	}
}
