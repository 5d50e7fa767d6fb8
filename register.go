package k8s

// The registration: groupcache allows one peer picker per process, registered once, so
// the library registers a forwarder once and points it at the live manager.

import (
	"errors"
	"sync"
	"sync/atomic"

	"github.com/golang/groupcache"
)

// The groupcache registration is once per process, so the manager registers a
// forwarder once and points it at the live manager.
var (
	registerMu       sync.Mutex
	registeredOnce   bool
	registeredPicker atomic.Pointer[PeersManager]
)

// ErrAlreadyRegistered is returned by NewPeersManager when another PeersManager of
// this process is registered with groupcache and still open.
var ErrAlreadyRegistered = errors.New("groupcache-k8s: another PeersManager is registered with groupcache in this " +
	"process; close it first, or use WithoutPeerPickerRegistration")

type forwardingPicker struct{}

func (forwardingPicker) PickPeer(key string) (groupcache.ProtoGetter, bool) {
	if m := registeredPicker.Load(); m != nil {
		return m.PickPeer(key)
	}
	return nil, false
}

func registerPicker(m *PeersManager) (err error) {
	registerMu.Lock()
	defer registerMu.Unlock()
	if registeredPicker.Load() != nil {
		return ErrAlreadyRegistered
	}
	if !registeredOnce {
		defer func() {
			if recover() != nil {
				err = errors.New("groupcache-k8s: groupcache.RegisterPeerPicker was already called in this process " +
					"(by an HTTPPool?); use WithoutPeerPickerRegistration and register the manager yourself")
			}
		}()
		groupcache.RegisterPeerPicker(func() groupcache.PeerPicker { return forwardingPicker{} })
		registeredOnce = true
	}
	registeredPicker.Store(m)
	return nil
}

func unregisterPicker(m *PeersManager) {
	registeredPicker.CompareAndSwap(m, nil)
}
