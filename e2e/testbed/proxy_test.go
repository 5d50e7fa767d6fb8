package testbed

import (
	"bufio"
	"net"
	"testing"
	"time"
)

// TestProxy: bytes pass, a stall holds the connections open then, not later ones, a freeze
// holds everything, Heal lets held bytes through, and Cut closes and refuses.
func TestProxy(t *testing.T) {
	echo, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer echo.Close()
	go func() {
		for {
			c, err := echo.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				r := bufio.NewReader(c)
				for {
					line, err := r.ReadString('\n')
					if err != nil {
						return
					}
					c.Write([]byte(line))
				}
			}()
		}
	}()
	p, err := NewProxy(echo.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()

	dial := func() (net.Conn, *bufio.Reader) {
		c, err := net.Dial("tcp", p.Addr())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c, bufio.NewReader(c)
	}
	// roundTrip sends a line and reports whether the echo came back within wait.
	roundTrip := func(c net.Conn, r *bufio.Reader, wait time.Duration) bool {
		c.SetReadDeadline(time.Now().Add(wait))
		if _, err := c.Write([]byte("ping\n")); err != nil {
			return false
		}
		line, err := r.ReadString('\n')
		return err == nil && line == "ping\n"
	}
	a, ar := dial()
	if !roundTrip(a, ar, 5*time.Second) {
		t.Fatal("no echo through a healthy proxy")
	}
	p.Stall()
	b, br := dial()
	if !roundTrip(b, br, 5*time.Second) {
		t.Error("a connection made after Stall does not pass")
	}
	if roundTrip(a, ar, 200*time.Millisecond) {
		t.Error("a stalled connection passed bytes")
	}
	p.Heal()
	a.SetReadDeadline(time.Now().Add(5 * time.Second))
	if line, err := ar.ReadString('\n'); err != nil || line != "ping\n" {
		t.Errorf("after Heal the held bytes did not arrive: %q %v", line, err)
	}
	p.Freeze()
	if roundTrip(b, br, 200*time.Millisecond) {
		t.Error("a frozen connection passed bytes")
	}
	p.Heal()
	p.Cut()
	c, cr := dial()
	if roundTrip(c, cr, time.Second) || roundTrip(a, ar, time.Second) {
		t.Error("bytes passed after Cut")
	}
}
