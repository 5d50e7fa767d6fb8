package k8s

// The fake clock of the tests: time moves only when a test (or, for replays, a wait)
// advances it, and Advance fires After and AfterFunc alike; or, shifted, it is the real
// clock with Now moved ahead by Advance.

import (
	"slices"
	"sync"
	"testing"
	"time"
)

// fakeClock is the one fake clock of the tests. Its time moves only by Advance, which
// fires, in order of their due time, every After channel and AfterFunc callback that is
// due; callbacks run in Advance's goroutine. Every After is recorded (waits), and told to
// waiting if that is set. With instant set, After advances the clock by its own duration,
// so every wait of the watch loop ends at once: a replay skips its backoff but still
// records it. A shifted clock (newShiftedClock) waits in real time, and Advance moves
// only its Now ahead: for a test that closes a window of time while real calls time out.
type fakeClock struct {
	instant bool
	shifted bool
	waiting chan time.Duration // if set, told (without blocking) of every After

	mu      sync.Mutex
	now     time.Time // a shifted clock: how far ahead of the real time it is
	pending []*fakeTimer
	sleeps  []time.Duration
}

// fakeTimer is an After or AfterFunc of a fakeClock.
type fakeTimer struct {
	c     *fakeClock
	at    time.Time
	f     func()         // AfterFunc's callback
	ch    chan time.Time // After's channel
	armed bool
}

// newFakeClock is a clock that moves only by Advance.
func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)}
}

// newInstantClock is a fake clock whose waits end at once.
func newInstantClock() *fakeClock {
	c := newFakeClock()
	c.instant = true
	return c
}

// newShiftedClock is the real clock, except that Advance moves Now ahead; its waits
// take real time.
func newShiftedClock() *fakeClock { return &fakeClock{shifted: true} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.shifted {
		return time.Now().Add(c.now.Sub(time.Time{}))
	}
	return c.now
}

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	if c.shifted {
		return time.After(d)
	}
	t := &fakeTimer{c: c, ch: make(chan time.Time, 1)}
	c.mu.Lock()
	c.sleeps = append(c.sleeps, d)
	c.arm(t, d)
	c.mu.Unlock()
	if c.waiting != nil {
		select {
		case c.waiting <- d:
		default:
		}
	}
	if c.instant {
		c.Advance(d)
	}
	return t.ch
}

func (c *fakeClock) AfterFunc(d time.Duration, f func()) timer {
	if c.shifted {
		return time.AfterFunc(d, f)
	}
	t := &fakeTimer{c: c, f: f}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.arm(t, d)
	return t
}

// arm makes t due d from now. c.mu is held.
func (c *fakeClock) arm(t *fakeTimer, d time.Duration) {
	t.at = c.now.Add(d)
	if !t.armed {
		t.armed = true
		c.pending = append(c.pending, t)
	}
}

// disarm takes t off the pending timers and reports whether it was pending. c.mu is held.
func (c *fakeClock) disarm(t *fakeTimer) bool {
	was := t.armed
	t.armed = false
	c.pending = slices.DeleteFunc(c.pending, func(p *fakeTimer) bool { return p == t })
	return was
}

// Advance moves the time on by d and fires every timer that is then due; a shifted
// clock's timers are real, so it only moves Now.
func (c *fakeClock) Advance(d time.Duration) {
	if c.shifted {
		c.mu.Lock()
		c.now = c.now.Add(d)
		c.mu.Unlock()
		return
	}
	for _, f := range c.expire(d) {
		f()
	}
}

// expire moves the time on by d and fires every timer that is then due, except that it
// returns the AfterFunc callbacks instead of running them: as real timers whose callbacks
// wait for a lock, their Stop already returns false.
func (c *fakeClock) expire(d time.Duration) []func() {
	c.mu.Lock()
	c.now = c.now.Add(d)
	var due []*fakeTimer
	for _, t := range c.pending {
		if !t.at.After(c.now) {
			due = append(due, t)
		}
	}
	slices.SortStableFunc(due, func(a, b *fakeTimer) int { return a.at.Compare(b.at) })
	for _, t := range due {
		c.disarm(t)
	}
	c.mu.Unlock()
	var callbacks []func()
	for _, t := range due {
		if t.ch != nil {
			t.ch <- t.at
		} else {
			callbacks = append(callbacks, t.f)
		}
	}
	return callbacks
}

// waits returns every wait the clock was asked for, in order.
func (c *fakeClock) waits() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.sleeps)
}

func (t *fakeTimer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	return t.c.disarm(t)
}

func (t *fakeTimer) Reset(d time.Duration) bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	was := t.armed
	t.c.arm(t, d)
	return was
}

// withClock and withRand replace the watch loop's time and randomness in tests.
func withClock(c clock) Option { return func(cfg *config) { cfg.clock = c } }

func withRand(f func() float64) Option { return func(cfg *config) { cfg.rand = f } }

// TestFakeClock checks the clock the other tests rely on: Advance fires After and
// AfterFunc alike, in order of their due time and only once due; Stop and Reset behave as
// time.Timer's; expire hands the callbacks back unrun; an instant clock's waits end at once;
// a shifted clock's Now runs ahead by Advance and its waits are real.
func TestFakeClock(t *testing.T) {
	c := newFakeClock()
	var fired []string
	after := c.After(3 * time.Second)
	c.AfterFunc(2*time.Second, func() { fired = append(fired, "2s") })
	c.AfterFunc(time.Second, func() { fired = append(fired, "1s") })
	stopped := c.AfterFunc(time.Second, func() { fired = append(fired, "stopped") })
	reset := c.AfterFunc(time.Second, func() { fired = append(fired, "reset to 4s") })
	if !stopped.Stop() || stopped.Stop() {
		t.Error("Stop of a pending timer must report true once, then false")
	}
	if !reset.Reset(4 * time.Second) {
		t.Error("Reset of a pending timer = false, want true")
	}

	c.Advance(2 * time.Second)
	if want := []string{"1s", "2s"}; !slices.Equal(fired, want) {
		t.Errorf("after 2 s fired %v, want %v", fired, want)
	}
	select {
	case <-after:
		t.Error("After(3 s) fired after 2 s")
	default:
	}
	held := c.expire(2 * time.Second)
	select {
	case at := <-after:
		if want := c.Now().Add(-time.Second); !at.Equal(want) {
			t.Errorf("After(3 s) fired with %v, want its due time %v", at, want)
		}
	default:
		t.Error("After(3 s) did not fire after 4 s")
	}
	if reset.Stop() {
		t.Error("Stop after expire = true, want false: the timer has fired")
	}
	if len(held) != 1 || len(fired) != 2 {
		t.Fatalf("expire handed back %d callbacks and ran %v; want 1 handed back, none run", len(held), fired[2:])
	}
	held[0]()
	if got := fired[len(fired)-1]; got != "reset to 4s" {
		t.Errorf("the held callback was %q", got)
	}

	instant := newInstantClock()
	start := instant.Now()
	select {
	case <-instant.After(time.Minute):
	default:
		t.Error("an instant clock's After did not end at once")
	}
	if got := instant.Now().Sub(start); got != time.Minute || !slices.Equal(instant.waits(), []time.Duration{time.Minute}) {
		t.Errorf("an instant clock moved %v and recorded %v; want a minute, recorded", got, instant.waits())
	}

	shifted := newShiftedClock()
	before := time.Now()
	shifted.Advance(time.Hour)
	if now, after := shifted.Now(), time.Now(); now.Before(before.Add(time.Hour)) || now.After(after.Add(time.Hour)) {
		t.Errorf("a shifted clock advanced an hour reads %v; want an hour after the real time, %v", now, after)
	}
	realFired := make(chan struct{})
	shifted.AfterFunc(time.Millisecond, func() { close(realFired) })
	<-shifted.After(time.Millisecond) // real waits: they end without Advance
	<-realFired
}
