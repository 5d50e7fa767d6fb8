package testbed

import (
	"encoding/json"
	"net"
	"net/http"
	"strconv"
	"sync/atomic"
	"testing"
)

// Pods without a cluster, for the tests of the helpers that work on pods.

// fakePod is a pod with no process behind it: its rings come only from addRings. Its peer id
// is its GroupcacheAddr, as a pod's on the gRPC transport.
func fakePod(name, ip string) *Pod {
	p := &Pod{Name: name, IP: ip, proc: &process{name: name, done: make(chan struct{})}, changed: make(chan struct{})}
	p.peerID = p.GroupcacheAddr()
	return p
}

// loopbackSeq hands each fake example its own 127.0.0.x, since a Pod's HTTP port is fixed.
var loopbackSeq atomic.Int32

// fakeExample serves handler as the example's HTTP API of a pod named name, on the pod's
// HTTPAddr, until the test ends.
func fakeExample(t *testing.T, name string, handler http.Handler) *Pod {
	t.Helper()
	p := fakePod(name, "127.0.0."+strconv.Itoa(int(10+loopbackSeq.Add(1)%240)))
	ln, err := net.Listen("tcp", p.HTTPAddr())
	if err != nil {
		t.Fatalf("a fake example pod cannot listen on %s: %v", p.HTTPAddr(), err)
	}
	srv := &http.Server{Handler: handler}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return p
}

func writeJSON(w http.ResponseWriter, v any) { json.NewEncoder(w).Encode(v) }
