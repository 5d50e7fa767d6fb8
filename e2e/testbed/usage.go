package testbed

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// What a pod's process costs, read from outside it: /proc for its memory, CPU time and
// sockets, and its own /metrics (the example's ADMIN_PORT) for goroutines and heap.

// Usage is what one pod's process costs at a moment.
type Usage struct {
	// Goroutines and HeapBytes are the process's own go_goroutines and
	// go_memstats_heap_alloc_bytes.
	Goroutines int
	HeapBytes  int64
	// RSSBytes is its resident memory (VmRSS), AnonBytes the part of it that is its own
	// (RssAnon: not the binary's pages, which every pod of a node shares); CPU its user and
	// system time since it started.
	RSSBytes, AnonBytes int64
	CPU                 time.Duration
	// Conns are its established TCP connections.
	Conns Conns
}

// Conns counts a process's established TCP connections by what is at the other end.
type Conns struct {
	// Peers are gRPC connections to other pods' GroupcachePort and from them to its own.
	Peers int
	// API are connections to the API server.
	API int
	// Other are the rest: the test bed's HTTP requests to the example, mostly.
	Other int
}

// clockTick is the unit of utime and stime in /proc/<pid>/stat (USER_HZ, 100 on Linux).
const clockTick = 10 * time.Millisecond

// PID is the process id of the pod's process.
func (p *Pod) PID() int { return p.proc.cmd.Process.Pid }

// CPUTime returns the user and system CPU time the pod's process has used: from /proc while
// it runs, from its exit status once it has exited.
func (p *Pod) CPUTime() (time.Duration, error) {
	if p.proc.exited() {
		st := p.proc.cmd.ProcessState
		return st.UserTime() + st.SystemTime(), nil
	}
	return procCPU(p.PID())
}

// procCPU reads utime and stime of pid from /proc/<pid>/stat.
func procCPU(pid int) (time.Duration, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name, in parentheses, may hold spaces: count fields after its end.
	s := string(data)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(fields) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields after the command", pid, len(fields))
	}
	utime, err1 := strconv.ParseInt(fields[11], 10, 64)
	stime, err2 := strconv.ParseInt(fields[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("/proc/%d/stat: utime %q, stime %q", pid, fields[11], fields[12])
	}
	return time.Duration(utime+stime) * clockTick, nil
}

// procRSS reads VmRSS and RssAnon of pid from /proc/<pid>/status.
func procRSS(pid int) (rss, anon int64, err error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	found := 0
	scanner := bufio.NewScanner(f)
	for scanner.Scan() {
		for _, field := range []struct {
			name string
			into *int64
		}{{"VmRSS:", &rss}, {"RssAnon:", &anon}} {
			if v, ok := strings.CutPrefix(scanner.Text(), field.name); ok {
				kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
				if err != nil {
					return 0, 0, fmt.Errorf("/proc/%d/status: %s %v", pid, field.name, err)
				}
				*field.into = kb << 10
				found++
			}
		}
	}
	if found != 2 {
		return 0, 0, fmt.Errorf("/proc/%d/status: want VmRSS and RssAnon", pid)
	}
	return rss, anon, scanner.Err()
}

// tcpConn is one line of /proc/net/tcp: the two ports, and whether it is established.
type tcpConn struct {
	localPort, remotePort int
	established           bool
}

// TCPTable is the TCP sockets of the test bed's network namespace by inode, read once to
// count the connections of many pods.
type TCPTable map[string]tcpConn

// ReadTCPTable reads the TCP sockets (IPv4 and IPv6) of the namespace this process runs in.
func ReadTCPTable() (TCPTable, error) {
	table := TCPTable{}
	for _, path := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		err = parseTCP(bufio.NewScanner(f), table)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
	}
	return table, nil
}

// parseTCP adds the sockets of a /proc/net/tcp listing to table.
func parseTCP(scanner *bufio.Scanner, table TCPTable) error {
	scanner.Buffer(make([]byte, 64<<10), 1<<20)
	first := true
	for scanner.Scan() {
		if first { // the header
			first = false
			continue
		}
		// sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode ...
		f := strings.Fields(scanner.Text())
		if len(f) < 10 {
			continue
		}
		local, err1 := hexPort(f[1])
		remote, err2 := hexPort(f[2])
		if err1 != nil || err2 != nil {
			return fmt.Errorf("addresses %q %q", f[1], f[2])
		}
		table[f[9]] = tcpConn{localPort: local, remotePort: remote, established: f[3] == "01"}
	}
	return scanner.Err()
}

// hexPort is the port of an address of /proc/net/tcp, ADDR:PORT in hex.
func hexPort(addr string) (int, error) {
	_, port, ok := strings.Cut(addr, ":")
	if !ok {
		return 0, fmt.Errorf("no port in %q", addr)
	}
	v, err := strconv.ParseInt(port, 16, 32)
	return int(v), err
}

// conns counts the established connections among the sockets pid holds open.
func (t TCPTable) conns(pid int) (Conns, error) {
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return Conns{}, err
	}
	var c Conns
	apiPort := mustPort(APIServerAddr)
	for _, e := range entries {
		target, err := os.Readlink(filepath.Join(dir, e.Name()))
		if err != nil {
			continue // closed meanwhile
		}
		inode, ok := strings.CutPrefix(target, "socket:[")
		if !ok {
			continue
		}
		conn, ok := t[strings.TrimSuffix(inode, "]")]
		if !ok || !conn.established {
			continue
		}
		switch {
		case conn.remotePort == apiPort:
			c.API++
		case conn.remotePort == GroupcachePort || conn.localPort == GroupcachePort:
			c.Peers++
		default:
			c.Other++
		}
	}
	return c, nil
}

func mustPort(hostport string) int {
	i := strings.LastIndexByte(hostport, ':')
	port, err := strconv.Atoi(hostport[i+1:])
	if err != nil {
		panic(err)
	}
	return port
}

// Usage reads what the pod's process costs now: from /proc, and from its /metrics on
// adminPort (the example's ADMIN_PORT, which must be set), counting its connections in
// table (read by ReadTCPTable just before).
func (p *Pod) Usage(ctx context.Context, adminPort int, table TCPTable) (Usage, error) {
	var u Usage
	pid := p.PID()
	var err error
	if u.CPU, err = procCPU(pid); err != nil {
		return u, err
	}
	if u.RSSBytes, u.AnonBytes, err = procRSS(pid); err != nil {
		return u, err
	}
	if u.Conns, err = table.conns(pid); err != nil {
		return u, err
	}
	metrics, err := scrape(ctx, httpClient, fmt.Sprintf("http://%s:%d/metrics", p.IP, adminPort), "")
	if err != nil {
		return u, fmt.Errorf("pod %s: %w", p.Name, err)
	}
	u.Goroutines = int(metrics.Sum("go_goroutines", nil))
	u.HeapBytes = int64(metrics.Sum("go_memstats_heap_alloc_bytes", nil))
	return u, nil
}
