//go:build !linux

package k8s

import (
	"net"
	"sync/atomic"
)

// newCountingConn returns conn counting the bytes read from it in n.
func newCountingConn(conn net.Conn, n *atomic.Int64) net.Conn {
	return &countingConn{Conn: conn, n: n}
}
