package testbed

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

// process is a child program the test bed started. Its output goes to a log file; onLine, if
// set, sees every line as it arrives.
type process struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	done    chan struct{} // closed when the process has exited
	err     error         // why it exited; valid after done
	termed  atomic.Bool   // SIGTERM was sent: a kubelet sends it once
}

func startProcess(name, logPath string, env []string, onLine func(string), bin string, args ...string) (*process, error) {
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	// Its own process group keeps a terminal's Ctrl-C away from it (the test bed stops it in
	// order); the parent-death signal kills it if the test bed itself dies.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	r, w := io.Pipe()
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &process{name: name, cmd: cmd, logPath: logPath, done: make(chan struct{})}
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		scanner := bufio.NewScanner(r)
		scanner.Buffer(make([]byte, 64<<10), 4<<20)
		for scanner.Scan() {
			line := scanner.Text()
			fmt.Fprintln(logFile, line)
			if onLine != nil {
				onLine(line)
			}
		}
		io.Copy(io.Discard, r)
	}()
	go func() {
		p.err = cmd.Wait()
		w.Close()
		<-copied
		logFile.Close()
		close(p.done)
	}()
	return p, nil
}

// signal sends sig unless the process has already exited.
func (p *process) signal(sig syscall.Signal) {
	if sig == syscall.SIGTERM {
		p.termed.Store(true)
	}
	select {
	case <-p.done:
	default:
		p.cmd.Process.Signal(sig)
	}
}

// stop asks the process to exit with SIGTERM, unless it was sent already (a second one
// could reach a process that has restored the default action on its way out, and kill
// it), and kills it after grace.
func (p *process) stop(grace time.Duration) {
	if !p.termed.Load() {
		p.signal(syscall.SIGTERM)
	}
	select {
	case <-p.done:
	case <-time.After(grace):
		p.signal(syscall.SIGKILL)
		<-p.done
	}
}

// exited reports whether the process has exited.
func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// tail returns the last n lines of the process's log, for failure messages.
func (p *process) tail(n int) string {
	data, _ := os.ReadFile(p.logPath)
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	out := ""
	for _, l := range lines {
		out += "    " + l + "\n"
	}
	return out
}
