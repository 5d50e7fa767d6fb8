package k8s

// Tests of the watch loop: startup errors, cancellation, an API server that goes away,
// oversized and boundary-sized events. The replayed streams are in replay_test.go.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/groupcache-k8s/k8s/internal/fakeapi"
	"github.com/groupcache-k8s/k8s/internal/leakcheck"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"google.golang.org/grpc"
	discoveryv1 "k8s.io/api/discovery/v1"
)

const (
	testNamespace = "shop"
	testService   = "cache"
)

// TestStartupErrors: 401 and 403 at the first LIST fail NewPeersManager at once, with an
// error that says what to do, and leave no goroutine behind.
func TestStartupErrors(t *testing.T) {
	cases := []struct {
		stream string
		want   []string
	}{
		{"forbidden_at_start", []string{"forbidden", "grant list and watch on discovery.k8s.io/endpointslices in namespace shop"}},
		{"unauthorized_at_start", []string{"401", "ServiceAccount token"}},
	}
	for _, tc := range cases {
		t.Run(tc.stream, func(t *testing.T) {
			leakcheck.Check(t)
			clk := newInstantClock()
			start := time.Now()
			_, _, err := newManager(t.Context(), t, fakeapi.Load(t, tc.stream), "10.0.0.1:8080", quietOptions(withClock(clk))...)
			if err == nil {
				t.Fatal("NewPeersManager succeeded; want an error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
			if len(clk.waits()) != 0 || time.Since(start) > 5*time.Second {
				t.Errorf("a permanent error must fail at once; waited %v", clk.waits())
			}
		})
	}
}

// TestStartupUnreachable uses real time: an API server that refuses connections makes
// NewPeersManager fail after the startup timeout, not hang, and leave no goroutine behind.
func TestStartupUnreachable(t *testing.T) {
	leakcheck.Check(t)
	api := fakeapi.Start(t, testNamespace, &fakeapi.Stream{})
	cs := api.Clientset()
	api.Close() // connection refused from now on
	start := time.Now()
	_, err := NewPeersManager(t.Context(), cs, testService, testNamespace, 8080, "10.0.0.1:8080",
		WithStartupTimeout(time.Second), WithGRPCServer(grpc.NewServer()), WithoutPeerPickerRegistration(), quietLogs)
	elapsed := time.Since(start)
	if err == nil || !strings.Contains(err.Error(), "not reachable within 1s") {
		t.Fatalf("err = %v; want 'not reachable within 1s'", err)
	}
	if elapsed < 900*time.Millisecond || elapsed > 5*time.Second {
		t.Errorf("gave up after %v; want about the 1 s startup timeout", elapsed)
	}
}

// TestCancelDuringBackoff: cancelling the context while the loop waits out a long
// backoff stops everything promptly, and Close afterwards returns nil.
func TestCancelDuringBackoff(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	// The 7 s Retry-After wait never ends: the clock does not move.
	clk := newFakeClock()
	clk.waiting = make(chan time.Duration, 1)
	m, _, err := newManager(ctx, t, fakeapi.Load(t, "too_many_requests"), "10.0.0.1:8080", quietOptions(withClock(clk))...)
	if err != nil {
		t.Fatal(err)
	}
	if d := <-clk.waiting; d < 7*time.Second {
		t.Fatalf("backoff after a 429 with Retry-After: 7 is %v", d)
	}
	start := time.Now()
	cancel()
	select {
	case <-m.done:
	case <-time.After(2 * time.Second):
		t.Fatal("manager still running 2 s after its context was cancelled mid-backoff")
	}
	if err := m.Close(); err != nil {
		t.Errorf("Close after cancel = %v", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("stopping took %v", d)
	}
}

// TestOversizedEvent: an event larger than the limit fails the watch without being
// applied; the client backs off and resumes from the last good resourceVersion.
func TestOversizedEvent(t *testing.T) {
	defer func(old int) { maxEventBytes = old }(maxEventBytes)
	maxEventBytes = 4 << 10
	m, api, clk := startFromStream(t, "oversized_event", "10.0.0.1:8080")
	if got, want := m.Peers(), []string{"10.0.0.1:8080", "10.0.0.2:8080", "10.0.0.3:8080"}; !slices.Equal(got, want) {
		t.Errorf("peers = %v, want %v (the oversized slice must not be applied)", got, want)
	}
	if got, want := clk.waits(), []time.Duration{1200 * time.Millisecond}; !slices.Equal(got, want) {
		t.Errorf("waits = %v, want %v", got, want)
	}
	wantRequests(t, "WATCH", api.Watches(), []string{"1000", "1000", "1100"})
}

// TestEventEndingAtAReadBoundaryIsPublished: when encoding/json's read ends exactly at an
// event's closing brace (first events of 512, 1536, 3584, 7680 or 15872 bytes: its read
// sizes), only the newline after it is left in the read buffer. That newline is not
// another event: the event must reach the ring at once, not at the next frame, the idle
// timeout or the end of the watch (which this stream never sends).
func TestEventEndingAtAReadBoundaryIsPublished(t *testing.T) {
	for _, size := range []int{512, 1536, 3584, 7680, 15872} {
		t.Run(strconv.Itoa(size), func(t *testing.T) {
			live := make(chan string, 1)
			r := make(rebuilds, 10)
			startManager(t, fakeapi.Listing(10, readySlice("x", "10.0.0.1")).WithLive(live), "10.0.0.1:8080", r.option())
			r.next(t)

			frame := eventOfSize(t, size, readySlice("x", "10.0.0.1", "10.0.0.2"))
			live <- frame
			if got, want := r.next(t), []string{"10.0.0.1:8080", "10.0.0.2:8080"}; !slices.Equal(got, want) {
				t.Fatalf("ring after the %d-byte event = %v, want %v", len(frame), got, want)
			}
		})
	}
}

// eventOfSize is a MODIFIED event of s that is exactly size bytes long, padded with an
// annotation the decoder ignores.
func eventOfSize(t *testing.T, size int, s *discoveryv1.EndpointSlice) string {
	t.Helper()
	padded := func(n int) string {
		s := s.DeepCopy()
		s.Annotations = map[string]string{"pad": strings.Repeat("x", n)}
		return fakeapi.EventFrame("MODIFIED", 11, s)
	}
	frame := padded(size - len(padded(0)))
	if len(frame) != size {
		t.Fatalf("padded event is %d bytes, want %d", len(frame), size)
	}
	return frame
}

// TestAPIServerGoneKeepsPeers: the API server disappears mid-watch. The manager backs
// off on the short schedule of lost connections (connection refused), keeps its peers and
// keeps routing keys.
func TestAPIServerGoneKeepsPeers(t *testing.T) {
	clk := newFakeClock()
	clk.waiting = make(chan time.Duration, 1)
	m, api := startManager(t, fakeapi.Listing(10, readySlice("x", "10.0.0.1", "10.0.0.2")), "10.0.0.1:8080", withClock(clk), withRand(func() float64 { return 0.5 }))
	api.WaitCaughtUp(t)
	key := keyOwnedBy(t, m.router.snapshot(), "10.0.0.2:8080")
	lastSync := m.Stats().LastSync
	// The listener first: a watch cut off without an answer may be retried at once, and
	// that request must be refused rather than held open by a server that is closing.
	api.HTTP.Listener.Close()
	api.HTTP.CloseClientConnections()
	api.Close()
	select {
	case d := <-clk.waiting:
		// With the jitter pinned at half, the schedule of answered failures would wait 1.2 s.
		if want := lostDelay + lostDelay/2; d != want {
			t.Errorf("first retry after the connection was refused in %v, want %v", d, want)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no backoff within 10 s of the API server going away")
	}
	if got := m.Peers(); !slices.Equal(got, []string{"10.0.0.1:8080", "10.0.0.2:8080"}) {
		t.Errorf("peers during the outage = %v", got)
	}
	if p, ok := m.PickPeer(key); !ok || p == nil {
		t.Error("keys are no longer routed to the known peer during the outage")
	}
	if s := m.Stats(); !s.LastSync.Equal(lastSync) {
		t.Errorf("LastSync moved during the outage: %v -> %v", lastSync, s.LastSync)
	}
}

// TestRetryDelayByFailure: a connection refused (a real one, through a real clientset),
// reset or cut off is retried within [1 s, 2 s) and leaves the schedule of answered
// failures where it was, and so is a 403 right after one; a 503 or a timeout advances that
// schedule; a 429 waits at least its Retry-After.
func TestRetryDelayByFailure(t *testing.T) {
	api := fakeapi.Start(t, testNamespace, &fakeapi.Stream{})
	cs := api.Clientset()
	api.Close()
	_, refused := cs.DiscoveryV1().EndpointSlices(testNamespace).List(t.Context(), metav1.ListOptions{})
	if refused == nil {
		t.Fatal("a LIST from a closed server succeeded")
	}
	reset := &url.Error{Op: "Get", URL: "https://10.0.0.1/apis", Err: &net.OpError{Op: "read", Net: "tcp",
		Err: os.NewSyscallError("read", syscall.ECONNRESET)}}
	unavailable := apierrors.NewServiceUnavailable("etcd is down")
	tooMany := apierrors.NewTooManyRequests("slow down", 7)
	forbidden := apierrors.NewForbidden(schema.GroupResource{Group: "discovery.k8s.io", Resource: "endpointslices"}, "",
		errors.New("RBAC: not yet"))
	cases := []struct {
		name     string
		errs     []error
		min, max []time.Duration // per error, the delay's bounds [min, max)
	}{
		{"refused, many times: never more than 2 s", []error{refused, refused, refused, refused, refused, refused, refused},
			repeat(time.Second, 7), repeat(2*time.Second, 7)},
		{"reset", []error{reset}, []time.Duration{time.Second}, []time.Duration{2 * time.Second}},
		{"a watch stream cut off", []error{fmt.Errorf("reading watch stream: %w", io.ErrUnexpectedEOF)},
			[]time.Duration{time.Second}, []time.Duration{2 * time.Second}},
		{"403 right after a lost connection (a server warming up), then on the schedule", []error{refused, forbidden, forbidden},
			[]time.Duration{time.Second, time.Second, time.Second}, []time.Duration{2 * time.Second, 2 * time.Second, 2 * time.Second}},
		{"403 without a lost connection is on the schedule", []error{forbidden, forbidden},
			[]time.Duration{800 * time.Millisecond, 1600 * time.Millisecond}, []time.Duration{1600 * time.Millisecond, 3200 * time.Millisecond}},
		{"503s back off; a refusal in between keeps their schedule", []error{unavailable, unavailable, refused, unavailable},
			[]time.Duration{800 * time.Millisecond, 1600 * time.Millisecond, time.Second, 3200 * time.Millisecond},
			[]time.Duration{1600 * time.Millisecond, 3200 * time.Millisecond, 2 * time.Second, 6400 * time.Millisecond}},
		{"a timeout backs off", []error{context.DeadlineExceeded, context.DeadlineExceeded},
			[]time.Duration{800 * time.Millisecond, 1600 * time.Millisecond}, []time.Duration{1600 * time.Millisecond, 3200 * time.Millisecond}},
		{"429 waits its Retry-After", []error{tooMany}, []time.Duration{7 * time.Second}, []time.Duration{7*time.Second + 1}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, r := range []float64{0, 0.999} {
				cfg := testConfig(withClock(newFakeClock()), withRand(func() float64 { return r }))
				w := newSliceWatcher(cs.DiscoveryV1().RESTClient(), testNamespace, testService, cfg, &counters{},
					func(map[string]*slice) {})
				for i, err := range tc.errs {
					max := tc.max[i]
					if r == 0 && tc.min[i] != tc.max[i] {
						max = tc.min[i] + 1 // no jitter: exactly the base
					}
					if d := w.delay(err); d < tc.min[i] || d >= max {
						t.Errorf("rand %v, error %d (%v): delay %v, want in [%v, %v)", r, i+1, err, d, tc.min[i], max)
					}
				}
			}
		})
	}
}

// TestForbiddenAfterALostConnection: a 401 or 403 is retried on the short schedule only
// within warmUp after a lost connection.
func TestForbiddenAfterALostConnection(t *testing.T) {
	forbidden := apierrors.NewForbidden(schema.GroupResource{Resource: "endpointslices"}, "", errors.New("no"))
	unauthorized := apierrors.NewUnauthorized("no")
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
	cases := []struct {
		name      string
		after     time.Duration // since the lost connection
		err       error
		wantShort bool
	}{
		{"403 just after", 0, forbidden, true},
		{"401 just after", time.Second, unauthorized, true},
		{"403 just within warmUp", warmUp - time.Millisecond, forbidden, true},
		{"403 after warmUp", warmUp, forbidden, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			clk := newFakeClock()
			cfg := testConfig(withClock(clk), withRand(func() float64 { return 0 }))
			w := newSliceWatcher(nil, testNamespace, testService, cfg, &counters{}, func(map[string]*slice) {})
			for range 5 { // advance the schedule of answered failures to 12.8 s
				w.backoff.failure(clk.Now())
			}
			w.delay(refused)
			clk.Advance(tc.after)
			if d, short := w.delay(tc.err), tc.wantShort; (d == lostDelay) != short {
				t.Errorf("delay %v; want the short one (%v): %v", d, lostDelay, short)
			}
		})
	}
}

func repeat(d time.Duration, n int) []time.Duration { return slices.Repeat([]time.Duration{d}, n) }
