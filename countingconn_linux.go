package k8s

import (
	"io"
	"net"
	"sync/atomic"
	"syscall"

	"google.golang.org/grpc/mem"
)

// newCountingConn returns conn counting the bytes read from it in n. Over TCP it also
// reads the way grpc reads a *net.TCPConn of its own (readyConn), so that counting costs
// no memory.
func newCountingConn(conn net.Conn, n *atomic.Int64) net.Conn {
	counting := countingConn{Conn: conn, n: n}
	tcp, ok := conn.(*net.TCPConn)
	if !ok {
		return &counting
	}
	raw, err := tcp.SyscallConn()
	if err != nil {
		return &counting
	}
	c := &readyConn{countingConn: counting, raw: raw}
	c.read = c.readReady
	return c
}

// readyConn is a countingConn over TCP that lets grpc read into a buffer of its pool
// only once data has arrived. grpc reads its own *net.TCPConn so, but wraps any other
// connection in a 32 KiB buffer of its own, held for the connection's life: 32 KiB per
// peer that grpc's pool otherwise shares between all connections. grpc finds the method
// ReadOnReady by its signature (google.golang.org/grpc/internal/transport/readyreader);
// versions of grpc that do not look for it read through Read, as for any connection.
type readyConn struct {
	countingConn
	raw  syscall.RawConn
	read func(fd uintptr) bool // readReady, made once

	// The read under way, kept here so that a read allocates nothing; grpc reads a
	// connection from one goroutine at a time.
	pool mem.BufferPool
	size int
	buf  *[]byte
	got  int
	err  error
}

// ReadOnReady waits until the connection is readable, then reads up to bufSize bytes
// into a buffer from pool, which it returns with the count of bytes in it; the caller
// puts the buffer back. It returns io.EOF when the peer closed the connection.
func (c *readyConn) ReadOnReady(bufSize int, pool mem.BufferPool) (*[]byte, int, error) {
	c.pool, c.size, c.buf, c.got, c.err = pool, bufSize, nil, 0, nil
	err := c.raw.Read(c.read)
	buf, n, rerr := c.buf, c.got, c.err
	c.pool, c.buf, c.err = nil, nil, nil
	switch {
	case err != nil:
		if buf != nil {
			pool.Put(buf)
		}
		return nil, 0, err
	case rerr != nil:
		return nil, 0, rerr // readReady put the buffer back
	case n == 0:
		pool.Put(buf)
		return nil, 0, io.EOF // a read of 0 bytes is the peer's end of the stream
	}
	c.n.Add(int64(n))
	return buf, n, nil
}

// readReady reads into a buffer from c.pool once fd is readable, and reports false while
// it is not, so that the runtime's poller waits for it.
func (c *readyConn) readReady(fd uintptr) bool {
	c.buf = c.pool.Get(c.size)
	c.got, c.err = syscall.Read(int(fd), *c.buf)
	if c.err != nil {
		c.pool.Put(c.buf)
		c.buf, c.got = nil, 0
	}
	return c.err != syscall.EAGAIN && c.err != syscall.EWOULDBLOCK
}
