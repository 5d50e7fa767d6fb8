package k8s

// Tests of the drain: Shutdown keeps serving peers until they know this pod is leaving
// and have stopped asking, or until the drain bound or the end of its ctx; Close does not
// drain.

import (
	"context"
	"errors"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/groupcache-k8s/k8s/internal/fakeapi"
	"github.com/groupcache-k8s/k8s/internal/leakcheck"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	discoveryv1 "k8s.io/api/discovery/v1"
)

func TestShutdownDrains(t *testing.T) {
	cases := []struct {
		name  string
		leave bool          // the slices show this pod terminating during the drain
		want  time.Duration // how long Shutdown drains, in the fake clock's time
	}{
		{"the others never learn that the pod leaves: the drain bound", false, defaultDrain},
		{"the others know: a quiet second after the last peer request", true, drainQuiet},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			leakcheck.Check(t)
			port := freePort(t)
			self := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
			live, clk := make(chan string), newFakeClock()
			clk.waiting = make(chan time.Duration, 1000)
			m, _, err := newManager(t.Context(), t, fakeapi.Listing(10, readySlice("cache-x1", "127.0.0.1", "127.0.0.2")).WithLive(live),
				self, WithoutPeerPickerRegistration(), WithHandoff(Handoff{}), withClock(clk))
			if err != nil {
				t.Fatal(err)
			}
			client := newTestClient(t, self)

			closed := make(chan struct{})
			go func() {
				if err := m.Shutdown(t.Context()); err != nil {
					t.Errorf("Shutdown: %v", err)
				}
				close(closed)
			}()
			waitUntil(t, "draining", func() bool { return m.Stats().Draining })
			if tc.leave {
				live <- fakeapi.EventFrame("MODIFIED", 11, apiSlice("cache-x1", discoveryv1.AddressTypeIPv4,
					apiEndpoint("127.0.0.1", no, yes), apiEndpoint("127.0.0.2", yes, no)))
				waitUntil(t, "the slices show this pod terminating", m.othersKnow)
			}
			// A peer's peek is still answered while the pod drains.
			if _, err := client.Peek(t.Context(), "no-such-group", "k"); status.Code(err) != codes.NotFound {
				t.Fatalf("peek while draining: %v; want NotFound", err)
			}
			if got := m.Stats().DrainRequests; got != 1 {
				t.Errorf("DrainRequests = %d, want 1", got)
			}

			var drained time.Duration
			timeout := time.After(20 * time.Second)
		wait:
			for {
				select {
				case <-closed:
					break wait
				case d := <-clk.waiting:
					if d == drainPoll {
						clk.Advance(drainPoll)
						drained += drainPoll
					}
				case <-timeout:
					t.Fatalf("Shutdown has not returned after %v of fake time", drained)
				}
			}
			if drained != tc.want {
				t.Errorf("Shutdown drained for %v, want %v", drained, tc.want)
			}
			if m.Stats().Draining {
				t.Error("Stats().Draining is still true after Shutdown")
			}
			if _, err := client.Peek(t.Context(), "no-such-group", "k"); status.Code(err) != codes.Unavailable &&
				!errors.Is(err, net.ErrClosed) {
				t.Errorf("peek after Shutdown: %v; want Unavailable", err)
			}
		})
	}
}

// TestStopWithoutDrain: the ways to stop a manager that is listed ready, with peers, and
// whose drain would otherwise last the whole bound. Close, the end of the manager's ctx,
// and a Shutdown whose ctx ends stop at once (no fake time passes); Close during
// Shutdown's drain ends it. Shutdown reports its ctx's error only when the ctx cut the
// drain short.
func TestStopWithoutDrain(t *testing.T) {
	cases := []struct {
		name    string
		stop    func(m *PeersManager, cancelManager context.CancelFunc) error // returns when stopped
		wantErr error
	}{
		{"Close", func(m *PeersManager, _ context.CancelFunc) error { return m.Close() }, nil},
		{"the end of the manager's ctx", func(m *PeersManager, cancel context.CancelFunc) error {
			cancel()
			<-m.done
			return nil
		}, nil},
		{"Shutdown whose ctx has ended", func(m *PeersManager, _ context.CancelFunc) error {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			return m.Shutdown(ctx)
		}, context.Canceled},
		{"Shutdown whose ctx ends during the drain", func(m *PeersManager, _ context.CancelFunc) error {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			done := make(chan error, 1)
			go func() { done <- m.Shutdown(ctx) }()
			waitUntil(t, "draining", func() bool { return m.Stats().Draining })
			cancel()
			return <-done
		}, context.Canceled},
		{"Close during Shutdown's drain", func(m *PeersManager, _ context.CancelFunc) error {
			done := make(chan error, 1)
			go func() { done <- m.Shutdown(context.Background()) }()
			waitUntil(t, "draining", func() bool { return m.Stats().Draining })
			m.Close()
			return <-done
		}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			leakcheck.Check(t)
			port := freePort(t)
			self := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
			clk := newFakeClock()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			m, _, err := newManager(ctx, t, fakeapi.Listing(10, readySlice("cache-x1", "127.0.0.1", "127.0.0.2")).WithLive(make(chan string)),
				self, WithoutPeerPickerRegistration(), WithHandoff(Handoff{}), withClock(clk))
			if err != nil {
				t.Fatal(err)
			}
			start := clk.Now()
			stopped := make(chan error, 1)
			go func() { stopped <- tc.stop(m, cancel) }()
			select {
			case err := <-stopped:
				if !errors.Is(err, tc.wantErr) {
					t.Errorf("stop: %v, want %v", err, tc.wantErr)
				}
			case <-time.After(20 * time.Second):
				t.Fatal("the manager did not stop within 20 s while no fake time passed")
			}
			if d := clk.Now().Sub(start); d != 0 {
				t.Errorf("%v of fake time passed; want none (no drain)", d)
			}
			if got := m.stats.drainRequests.Load(); got != 0 {
				t.Errorf("drain requests: %d", got)
			}
			if got := m.drained.Load(); got {
				t.Error("the drain ran to its end")
			}
			if len(m.Peers()) != 0 {
				t.Errorf("Peers after the stop: %v, want none", m.Peers())
			}
		})
	}
}
