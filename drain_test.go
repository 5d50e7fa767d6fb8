package k8s

// Tests of the drain: Close keeps serving peers until they know this pod is leaving and
// have stopped asking, or until the drain bound.

import (
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

func TestCloseDrains(t *testing.T) {
	cases := []struct {
		name  string
		leave bool          // the slices show this pod terminating during the drain
		want  time.Duration // how long Close drains, in the fake clock's time
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
			go func() { m.Close(); close(closed) }()
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
					t.Fatalf("Close has not returned after %v of fake time", drained)
				}
			}
			if drained != tc.want {
				t.Errorf("Close drained for %v, want %v", drained, tc.want)
			}
			if m.Stats().Draining {
				t.Error("Stats().Draining is still true after Close")
			}
			if _, err := client.Peek(t.Context(), "no-such-group", "k"); status.Code(err) != codes.Unavailable &&
				!errors.Is(err, net.ErrClosed) {
				t.Errorf("peek after Close: %v; want Unavailable", err)
			}
		})
	}
}
