package testbed

import (
	"bufio"
	"os"
	"strings"
	"testing"
)

// TestParseTCP: each socket of a /proc/net/tcp listing by inode, with its ports (hex) and
// whether it is established (state 01).
func TestParseTCP(t *testing.T) {
	listing := `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0A0200C0:1F91 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 111 1 0000000000000000 100 0 0 10 0
   1: 0A0200C0:1F91 0B0200C0:C350 01 00000000:00000000 00:00000000 00000000  1000        0 222 1 0000000000000000 20 4 30 10 -1
   2: 0100007F:A1B2 0100007F:192B 01 00000000:00000000 00:00000000 00000000  1000        0 333 1 0000000000000000 20 4 30 10 -1
`
	table := TCPTable{}
	if err := parseTCP(bufio.NewScanner(strings.NewReader(listing)), table); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		inode string
		want  tcpConn
	}{
		{"111", tcpConn{localPort: 8081, remotePort: 0, established: false}},
		{"222", tcpConn{localPort: 8081, remotePort: 50000, established: true}},
		{"333", tcpConn{localPort: 0xA1B2, remotePort: 6443, established: true}},
	} {
		if got, ok := table[tc.inode]; !ok || got != tc.want {
			t.Errorf("socket %s = %+v (listed %v); want %+v", tc.inode, got, ok, tc.want)
		}
	}
	if len(table) != 3 {
		t.Errorf("%d sockets; want 3", len(table))
	}
	if err := parseTCP(bufio.NewScanner(strings.NewReader("header\n 0: nohex nohex 01 a b c d e 9\n")), TCPTable{}); err == nil {
		t.Error("addresses without ports parsed; want an error")
	}
}

// TestProcReaders: this test's own process has a CPU time, a resident size and open
// sockets of its own to count.
func TestProcReaders(t *testing.T) {
	pid := os.Getpid()
	if _, err := procCPU(pid); err != nil {
		t.Errorf("procCPU: %v", err)
	}
	if rss, anon, err := procRSS(pid); err != nil || anon <= 0 || rss < anon {
		t.Errorf("procRSS = %d, %d, %v; want a positive anonymous part of no more than the whole", rss, anon, err)
	}
	table, err := ReadTCPTable()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := table.conns(pid); err != nil {
		t.Errorf("conns: %v", err)
	}
}
