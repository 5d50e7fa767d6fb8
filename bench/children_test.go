package bench

// The remote benchmarks run in helper processes, so that each side's allocations and CPU
// are its own: this test binary re-executes itself in a role (BENCH_ROLE):
//
//   - server: one process serving the same groups over both transports, our gRPC
//     server (a PeersManager's) and an HTTPPool on an HTTP server, on 127.0.0.2.
//   - client: one process per transport, the caller, on 127.0.0.1. groupcache allows
//     one peer picker per process, so the gRPC caller (a registered PeersManager) and
//     the HTTPPool caller cannot share a process; and the benchmark process itself keeps
//     its HTTPPool for the picker benchmarks.
//   - handoff: one process per case of BenchmarkPeekMiss (peekmiss_test.go), the pod
//     that loads, on 127.0.0.1; the server is the peer it peeks.
//   - peers and peercost: per case of BenchmarkPeerCost (peercost_test.go), N peers on
//     127.1.x.y, and the pod whose goroutines, heap and open files are counted, on
//     127.2.0.1. They are started and stopped by the case; the server is not involved.
//   - handover: the pods of BenchmarkHandover (handover_test.go), one process each on
//     127.3.0.x, started and stopped by each hand-over; the server is not involved.
//   - localload: one process per case of BenchmarkLocalLoad (localload_test.go), a pod
//     alone in its Service on 127.4.0.1. That file's init dispatches it, not TestMain:
//     the report builds the file into the baseline's binary too.
//
// The benchmark process sends a client command lines (remoteClient.command in
// remote_test.go, peekPod.command in peekmiss_test.go); the client makes the calls and
// answers with a line of measurements. A helper exits when its standard input closes,
// which also happens when the benchmark process dies.

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"time"
)

// child is a helper process speaking the line protocol on its stdin and stdout.
type child struct {
	name  string
	cmd   *exec.Cmd
	stdin io.WriteCloser
	lines chan string // the helper's stdout, line by line; closed when it exits
}

// startChild starts this binary in role with the extra environment env and waits for
// its first line, which must start with "ready".
func startChild(name, role string, env ...string) (*child, []string, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, nil, err
	}
	cmd := exec.Command(exe, "-test.run=^$", "-test.bench=^$")
	cmd.Env = append(append(os.Environ(), "BENCH_ROLE="+role, "BENCH_CHILD_NAME="+name), env...)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, nil, err
	}
	c := &child{name: name, cmd: cmd, stdin: stdin, lines: make(chan string, 64)}
	go func() { // ends when the helper's stdout closes, that is when it exits
		defer close(c.lines)
		r := bufio.NewReader(stdout)
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			select {
			case c.lines <- strings.TrimSpace(line):
			default: // nobody reads: the protocol is broken already; never block
			}
		}
	}()
	ready, err := c.read(time.Minute)
	if err == nil && (len(ready) == 0 || ready[0] != "ready") {
		err = fmt.Errorf("helper %s said %q, want ready", name, ready)
	}
	if err != nil {
		c.stop()
		return nil, nil, err
	}
	return c, ready[1:], nil
}

// read waits for the next line, killing the helper if it takes longer than timeout.
func (c *child) read(timeout time.Duration) ([]string, error) {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case line, ok := <-c.lines:
		if !ok {
			return nil, fmt.Errorf("helper %s has exited", c.name)
		}
		return strings.Fields(line), nil
	case <-timer.C:
		c.cmd.Process.Kill()
		return nil, fmt.Errorf("helper %s did not answer within %v; killed it", c.name, timeout)
	}
}

// call sends one command line and returns the answer's fields.
func (c *child) call(timeout time.Duration, format string, args ...any) ([]string, error) {
	if _, err := fmt.Fprintf(c.stdin, format+"\n", args...); err != nil {
		return nil, fmt.Errorf("helper %s: %w", c.name, err)
	}
	return c.read(timeout)
}

// pid is the helper's process id.
func (c *child) pid() int { return c.cmd.Process.Pid }

// stop closes the helper's stdin, which makes it shut down, and waits for it to exit;
// after ten seconds it is killed.
func (c *child) stop() error {
	c.stdin.Close()
	done := make(chan error, 1)
	go func() { done <- c.cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-time.After(10 * time.Second):
		c.cmd.Process.Kill()
		<-done
		return fmt.Errorf("helper %s did not exit within 10 s of its stdin closing; killed it", c.name)
	}
}

// helpers are the helper processes of this benchmark process, started on first use.
var helpers struct {
	sync.Mutex
	server      *child
	serverPorts []string          // gRPC ports of the server, on 127.0.0.2: grpc, grpc-bdp
	serverHTTP  string            // base URL of the server's HTTPPool
	clients     map[string]*child // by name: the client helpers and the handoff helpers
}

// clientHelper returns the client process of transport impl ("grpc" or "httppool"),
// starting it, and the server, if needed.
func clientHelper(impl string) (*child, error) {
	port := func() string {
		if impl == "grpc-bdp" {
			return helpers.serverPorts[1]
		}
		return helpers.serverPorts[0]
	}
	return startHelper("client-"+impl, "client", func() []string {
		return []string{"BENCH_IMPL=" + impl, "BENCH_SERVER_PORT=" + port(), "BENCH_SERVER_HTTP=" + helpers.serverHTTP}
	})
}

// serverHelper returns the server process, or nil before a helper has started it.
func serverHelper() *child {
	helpers.Lock()
	defer helpers.Unlock()
	return helpers.server
}

// handoffHelper returns the handoff process of BenchmarkPeekMiss's case impl, starting
// it, and the server, if needed. It peeks the server's gRPC manager (not grpc-bdp's).
func handoffHelper(impl string) (*child, error) {
	return startHelper("handoff-"+impl, "handoff", func() []string {
		return []string{"BENCH_HANDOFF=" + impl, "BENCH_SERVER_PORT=" + helpers.serverPorts[0]}
	})
}

// startHelper returns the helper called name, starting it in role with the environment
// env returns (called once the server runs), and the server, if needed.
func startHelper(name, role string, env func() []string) (*child, error) {
	helpers.Lock()
	defer helpers.Unlock()
	if helpers.server == nil {
		c, ready, err := startChild("server", "server")
		if err != nil {
			return nil, err
		}
		if len(ready) != 3 {
			c.stop()
			return nil, fmt.Errorf("server helper said ready %q, want two ports and a URL", ready)
		}
		helpers.server, helpers.serverPorts, helpers.serverHTTP = c, ready[:2], ready[2]
	}
	if c := helpers.clients[name]; c != nil {
		return c, nil
	}
	c, _, err := startChild(name, role, env()...)
	if err != nil {
		return nil, err
	}
	if helpers.clients == nil {
		helpers.clients = make(map[string]*child)
	}
	helpers.clients[name] = c
	return c, nil
}

// stopHelpers stops every helper process: the clients, then the server.
func stopHelpers() error {
	helpers.Lock()
	defer helpers.Unlock()
	var errs []error
	for name, c := range helpers.clients {
		errs = append(errs, c.stop())
		delete(helpers.clients, name)
	}
	if helpers.server != nil {
		errs = append(errs, helpers.server.stop())
		helpers.server = nil
	}
	return errors.Join(errs...)
}

// runHelper runs the role's main function in a helper process and returns its exit
// code. With BENCH_PROFILE_DIR set it writes a CPU profile and an allocation profile of
// the whole process there, named after the helper (the pod of BenchmarkPeerCost also
// writes a heap profile of each of its readings: peercost_test.go).
func runHelper(main func() error) int {
	name := os.Getenv("BENCH_CHILD_NAME")
	if dir := os.Getenv("BENCH_PROFILE_DIR"); dir != "" {
		f, err := os.Create(filepath.Join(dir, name+".cpu.pprof"))
		if err == nil && pprof.StartCPUProfile(f) == nil {
			defer func() {
				pprof.StopCPUProfile()
				f.Close()
				if mf, err := os.Create(filepath.Join(dir, name+".mem.pprof")); err == nil {
					pprof.Lookup("allocs").WriteTo(mf, 0)
					mf.Close()
				}
			}()
		}
	}
	if err := main(); err != nil {
		fmt.Fprintf(os.Stderr, "helper %s: %v\n", name, err)
		return 1
	}
	return 0
}

// freePort returns a TCP port that is free on ip at the time of the call.
func freePort(ip string) (int, error) {
	lis, err := net.Listen("tcp4", net.JoinHostPort(ip, "0"))
	if err != nil {
		return 0, err
	}
	defer lis.Close()
	return lis.Addr().(*net.TCPAddr).Port, nil
}

// atoi parses a decimal field of a helper's line.
func atoi(s string) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		panic(fmt.Sprintf("helper sent %q, want a number", s))
	}
	return n
}
