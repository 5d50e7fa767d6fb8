package k8s

// The counting connection: a peer connection that counts the bytes read from it, which
// the liveness check (liveness.go) takes as a sign of life.

import (
	"net"
	"sync/atomic"
)

// countingConn counts the bytes read from a connection in n.
type countingConn struct {
	net.Conn
	n *atomic.Int64
}

func (c *countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.n.Add(int64(n))
	return n, err
}
