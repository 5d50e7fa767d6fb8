package k8s

import (
	"errors"
	"io"
	"net"
	"sync/atomic"
	"testing"

	"google.golang.org/grpc/mem"
)

// readyReader is the method grpc looks for on a connection to read it only once data has
// arrived (see readyConn).
type readyReader interface {
	ReadOnReady(bufSize int, pool mem.BufferPool) (*[]byte, int, error)
}

// TestCountingConn: whichever way grpc reads a peer's connection, through Read or
// through ReadOnReady (TCP on Linux), every byte is counted once and the peer's end of
// the stream is io.EOF; a connection that is not TCP is counted through Read.
func TestCountingConn(t *testing.T) {
	for _, tc := range []struct {
		name  string
		ready bool // read through ReadOnReady
	}{
		{"TCP", readyReads},
		// Read works on every connection, also one that offers ReadOnReady.
		{"TCP through Read", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			server, client := tcpPair(t)
			var n atomic.Int64
			conn := newCountingConn(client, &n)
			if !tc.ready {
				conn = struct{ net.Conn }{conn} // hides ReadOnReady
			}
			rr, isReady := conn.(readyReader)
			if tc.ready != isReady {
				t.Fatalf("the connection offers ReadOnReady: %v, want %v", isReady, tc.ready)
			}
			want := []byte("hello, peer")
			go func() {
				server.Write(want)
				server.Close()
			}()
			var got []byte
			for {
				var err error
				if tc.ready {
					var buf *[]byte
					var k int
					buf, k, err = rr.ReadOnReady(4, mem.DefaultBufferPool())
					if buf != nil {
						got = append(got, (*buf)[:k]...)
						mem.DefaultBufferPool().Put(buf)
					}
				} else {
					p := make([]byte, 4)
					var k int
					k, err = conn.Read(p)
					got = append(got, p[:k]...)
				}
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					t.Fatalf("reading: %v", err)
				}
			}
			if string(got) != string(want) {
				t.Fatalf("read %q, want %q", got, want)
			}
			assertCount(t, "bytes counted", n.Load(), int64(len(want)))
		})
	}

	t.Run("not TCP", func(t *testing.T) {
		a, b := net.Pipe()
		defer a.Close()
		defer b.Close()
		var n atomic.Int64
		conn := newCountingConn(b, &n)
		if _, ok := conn.(readyReader); ok {
			t.Fatal("a pipe offers ReadOnReady; only TCP connections can")
		}
		go a.Write([]byte("abc"))
		p := make([]byte, 8)
		k, err := conn.Read(p)
		if err != nil || k != 3 {
			t.Fatalf("Read = %d, %v; want 3, nil", k, err)
		}
		assertCount(t, "bytes counted", n.Load(), 3)
	})
}

// tcpPair returns the two ends of a TCP connection on loopback, closed at the end of the
// test.
func tcpPair(t *testing.T) (server, client net.Conn) {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer lis.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := lis.Accept()
		accepted <- c
	}()
	client, err = net.Dial("tcp", lis.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server = <-accepted
	if server == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { client.Close(); server.Close() })
	return server, client
}
