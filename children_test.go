package k8s

// Child processes: the test binary run again as another process, for tests that need two
// processes (groupcache's registries are global).

import (
	"bufio"
	"bytes"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// childProcess is this test binary re-executed to run one test as another process.
// It talks line by line: its stdout lines arrive on lines, and the parent writes to
// stdin. Closing stdin tells it to exit.
type childProcess struct {
	name    string
	cmd     *exec.Cmd
	stdin   io.WriteCloser
	lines   chan string   // closed when the child has exited
	exited  chan struct{} // closed when the child has exited; then waitErr and stderr are set
	waitErr error
	stderr  bytes.Buffer
}

// childEnv holds the name of the child a process is; empty in the parent.
const childEnv = "GROUPCACHE_K8S_TEST_CHILD"

// startChild re-executes the test binary to run only test, with childEnv=name. When
// the test ends, the child is asked to exit, killed if it does not, and waited for;
// a child that fails is reported with its stderr.
func startChild(t *testing.T, test, name string) *childProcess {
	t.Helper()
	c := &childProcess{name: name, lines: make(chan string, 64), exited: make(chan struct{})}
	c.cmd = exec.Command(os.Args[0], "-test.run=^"+test+"$", "-test.count=1")
	c.cmd.Env = append(os.Environ(), childEnv+"="+name)
	c.cmd.Stderr = &c.stderr
	stdout, stdoutW := io.Pipe()
	c.cmd.Stdout = stdoutW
	stdin, err := c.cmd.StdinPipe()
	if err != nil {
		t.Fatalf("child %s: %v", name, err)
	}
	c.stdin = stdin
	if err := c.cmd.Start(); err != nil {
		t.Fatalf("starting child %s: %v", name, err)
	}
	go c.readLines(stdout)
	go func() {
		c.waitErr = c.cmd.Wait() // returns once stdout and stderr are copied
		_ = stdoutW.Close()
		close(c.exited)
	}()
	t.Cleanup(func() { c.stop(t) })
	return c
}

// readLines forwards the child's stdout lines until it closes.
func (c *childProcess) readLines(stdout io.Reader) {
	defer close(c.lines)
	scanner := bufio.NewScanner(stdout)
	for scanner.Scan() {
		select {
		case c.lines <- scanner.Text():
		default: // nobody reads any more; drop the line rather than block the child
		}
	}
}

// expect returns the rest of the first stdout line that starts with prefix, skipping
// other output; it fails the test if the child says nothing of the kind in time.
func (c *childProcess) expect(t *testing.T, prefix string) string {
	t.Helper()
	timeout := time.NewTimer(20 * time.Second)
	defer timeout.Stop()
	for {
		select {
		case line, ok := <-c.lines:
			if !ok {
				<-c.exited
				t.Fatalf("child %s exited (%v) before printing %q; stderr:\n%s", c.name, c.waitErr, prefix, c.stderr.String())
			}
			if rest, found := strings.CutPrefix(line, prefix); found {
				return rest
			}
		case <-timeout.C:
			t.Fatalf("child %s did not print %q in time", c.name, prefix)
		}
	}
}

// send writes one line to the child's stdin.
func (c *childProcess) send(t *testing.T, line string) {
	t.Helper()
	if _, err := io.WriteString(c.stdin, line+"\n"); err != nil {
		t.Fatalf("writing to child %s: %v", c.name, err)
	}
}

// stop closes the child's stdin, which asks it to exit, and waits for it; after a
// grace period it kills the child. A child that fails or has to be killed fails t.
func (c *childProcess) stop(t *testing.T) {
	_ = c.stdin.Close()
	timer := time.NewTimer(10 * time.Second)
	defer timer.Stop()
	select {
	case <-c.exited:
		if c.waitErr != nil {
			t.Errorf("child %s failed: %v; stderr:\n%s", c.name, c.waitErr, c.stderr.String())
		}
	case <-timer.C:
		_ = c.cmd.Process.Kill()
		<-c.exited
		t.Errorf("child %s did not exit after its stdin was closed; killed it; stderr:\n%s", c.name, c.stderr.String())
	}
}
