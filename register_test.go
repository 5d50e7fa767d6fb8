package k8s

// Tests of the registration with groupcache: one live manager at a time.

import (
	"errors"
	"testing"

	"github.com/groupcache-k8s/k8s/internal/fakeapi"
	"github.com/groupcache-k8s/k8s/internal/leakcheck"
	"google.golang.org/grpc"
)

// TestRegistration: the first manager registers with groupcache; a second one in the
// same process gets ErrAlreadyRegistered instead of groupcache's panic; once the first
// is closed another may register. Groups route through the registered manager. The
// manager that failed with ErrAlreadyRegistered, like the others, leaves no goroutine behind.
func TestRegistration(t *testing.T) {
	leakcheck.Check(t)
	registered := func(opts ...Option) (*PeersManager, error) {
		opts = append([]Option{WithGRPCServer(grpc.NewServer()), noHandoff}, opts...)
		m, _, err := newManager(t.Context(), t, fakeapi.Listing(10, readySlice("x", "10.0.0.1", "10.0.0.2")), "10.0.0.1:8080", opts...)
		return m, err
	}
	first, err := registered()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := registered(); !errors.Is(err, ErrAlreadyRegistered) {
		t.Fatalf("second manager: err = %v, want ErrAlreadyRegistered", err)
	}
	unregistered, err := registered(WithoutPeerPickerRegistration())
	if err != nil {
		t.Fatalf("a manager without registration must coexist: %v", err)
	}
	unregistered.Close()

	key := keyOwnedBy(t, first.router.snapshot(), "10.0.0.2:8080")
	if p, ok := (forwardingPicker{}).PickPeer(key); !ok || p == nil {
		t.Fatal("the registered picker does not route to the live manager")
	}
	first.Close()
	if _, ok := (forwardingPicker{}).PickPeer(key); ok {
		t.Fatal("a closed manager still routes keys")
	}
	third, err := registered()
	if err != nil {
		t.Fatalf("after Close another manager must be able to register: %v", err)
	}
	third.Close()
}
