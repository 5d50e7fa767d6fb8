package testbed

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
)

const (
	netnsEnv    = "GROUPCACHE_K8S_E2E_NETNS"
	binariesEnv = "GROUPCACHE_K8S_E2E_BINARIES"
)

// InNetNS reports whether this process runs inside the test bed's private network namespace.
func InNetNS() bool { return os.Getenv(netnsEnv) == "1" }

// RunInNetNS runs this same program again, with the same arguments, inside a new private
// network namespace (unshare -rn, no privilege needed) whose loopback carries 192.0.2.0/24
// and, for runs of more pods than that holds, 198.18.0.0/15 (the range set aside for
// benchmarks, RFC 2544), and returns its exit code. Signals this process gets are passed on, so the inner program
// can stop the control plane and remove its files on Ctrl-C. Nothing inside can reach the
// network: build first.
func RunInNetNS(bins Binaries) (int, error) {
	exe, err := os.Executable()
	if err != nil {
		return 1, err
	}
	encoded, err := json.Marshal(bins)
	if err != nil {
		return 1, err
	}
	const script = `ip link set lo up && ip addr add 192.0.2.1/24 dev lo && ip addr add 198.18.0.1/15 dev lo && exec "$@"`
	args := append([]string{"-rn", "sh", "-c", script, "sh", exe}, os.Args[1:]...)
	cmd := exec.Command("unshare", args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.Env = append(os.Environ(), netnsEnv+"=1", binariesEnv+"="+string(encoded))
	signals := make(chan os.Signal, 4)
	signal.Notify(signals, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(signals)
	if err := cmd.Start(); err != nil {
		return 1, fmt.Errorf("unshare -rn (a private network namespace): %w", err)
	}
	go func() {
		for s := range signals {
			cmd.Process.Signal(s)
		}
	}()
	err = cmd.Wait()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return exit.ExitCode(), nil
	}
	if err != nil {
		return 1, err
	}
	return 0, nil
}

// BinariesFromEnv returns the binaries the outer program built, inside the namespace.
func BinariesFromEnv() (Binaries, error) {
	var bins Binaries
	if err := json.Unmarshal([]byte(os.Getenv(binariesEnv)), &bins); err != nil {
		return bins, fmt.Errorf("testbed: %s: %v (run through RunInNetNS)", binariesEnv, err)
	}
	return bins, nil
}

// BuildAndRerun is what a program using the test bed does first, outside the namespace: it
// builds the binaries (into a temporary directory it removes afterwards; the control plane
// is cached), runs this same program again inside a private network namespace with
// RunInNetNS, and returns the exit code to exit with. Errors are printed to standard error.
func BuildAndRerun() int { return BuildAndRerunWith(BuildOptions{}) }

// BuildAndRerunWith is BuildAndRerun with options for the build.
func BuildAndRerunWith(opts BuildOptions) int {
	tmp, err := os.MkdirTemp("", "groupcache-k8s-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(tmp)
	bins, err := BuildWith(context.Background(), tmp, os.Stderr, opts)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	code, err := RunInNetNS(bins)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
	}
	return code
}
