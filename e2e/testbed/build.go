package testbed

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"
)

// Binaries are the paths of the programs the test bed runs.
type Binaries struct {
	Etcd, APIServer, ControllerManager string
	// Example is example/cmd from the example module (example/), built with the race
	// detector unless BuildOptions.NoRace: each pod runs it.
	Example string
	// Previous is example/cmd of PreviousVersion, built the same way: the pods of a
	// rollout from the version before the push (PodOptions.Previous).
	Previous string
}

// PreviousVersion is the commit whose example the pods of PodOptions.Previous run: the
// library as it was before pushes (the last commit before the Push method that builds:
// c2b0efa, right before it, does not), which answers a push with Unimplemented and hands
// keys over by the peek alone.
const PreviousVersion = "2693114576675f6dfc51ae6b4c157e4be5e3789d"

// component is one control-plane program built from a module under e2e/controlplane.
type component struct {
	name, version string
	module, pkg   string // module directory relative to the e2e module, and package inside it
	firstBuild    string // what a first build costs, shown while it runs
}

var components = []component{
	{"etcd", "etcd v3.6.16", "controlplane/etcd", ".", "about 3 minutes"},
	{"kube-apiserver", "kubernetes v1.37.2", "controlplane/kube", "./kube-apiserver", "about 5 minutes"},
	{"kube-controller-manager", "kubernetes v1.37.2", "controlplane/kube", "./kube-controller-manager", "about 2 minutes"},
}

// E2EDir is the directory of the e2e module.
func E2EDir() string {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		panic("testbed: cannot locate its own source")
	}
	return filepath.Dir(filepath.Dir(file))
}

// RootDir is the directory of the library's root module.
func RootDir() string { return filepath.Dir(E2EDir()) }

// BuildOptions change how Build builds the example.
type BuildOptions struct {
	// NoRace builds the example without the race detector, for runs that measure many pods:
	// the detector multiplies each pod's CPU time and memory several times.
	NoRace bool
	// NoPrevious skips the example of PreviousVersion (Binaries.Previous stays empty), which
	// only a rollout from the version before pushes needs.
	NoPrevious bool
}

// Build builds the control plane, or finds it in the cache, and the example pod binary into
// tmpDir, with the race detector. It prints one progress line per step to progress. It needs
// the module proxy, so it runs before the test bed enters its network namespace.
func Build(ctx context.Context, tmpDir string, progress io.Writer) (Binaries, error) {
	return BuildWith(ctx, tmpDir, progress, BuildOptions{})
}

// BuildWith is Build with options.
func BuildWith(ctx context.Context, tmpDir string, progress io.Writer, opts BuildOptions) (Binaries, error) {
	var bins Binaries
	cacheRoot, err := os.UserCacheDir()
	if err != nil {
		return bins, err
	}
	cacheRoot = filepath.Join(cacheRoot, "groupcache-k8s-e2e")
	goVersion, err := goEnv(ctx, "GOVERSION")
	if err != nil {
		return bins, err
	}
	paths := map[string]string{}
	for _, c := range components {
		if paths[c.name], err = buildCached(ctx, c, cacheRoot, goVersion, progress); err != nil {
			return bins, err
		}
	}
	bins.Etcd, bins.APIServer, bins.ControllerManager = paths["etcd"], paths["kube-apiserver"], paths["kube-controller-manager"]

	bins.Example = filepath.Join(tmpDir, "example")
	start := time.Now()
	var flags []string
	how := "without the race detector"
	if !opts.NoRace {
		flags, how = []string{"-race"}, "with -race"
	}
	fmt.Fprintf(progress, "testbed: building example/cmd %s ...\n", how)
	if err := goBuild(ctx, filepath.Join(RootDir(), "example"), "./cmd", bins.Example, exampleEnv(), flags...); err != nil {
		return bins, err
	}
	fmt.Fprintf(progress, "testbed: built example/cmd in %s\n", since(start))
	if opts.NoPrevious {
		return bins, nil
	}
	if bins.Previous, err = buildPrevious(ctx, cacheRoot, goVersion, progress); err != nil {
		return bins, err
	}
	return bins, nil
}

// buildPrevious returns example/cmd of PreviousVersion, built with -race from the
// repository's history (git archive, so no worktree is left behind) and cached by commit
// and Go version.
func buildPrevious(ctx context.Context, cacheRoot, goVersion string, progress io.Writer) (string, error) {
	h := sha256.Sum256([]byte(goVersion + " " + runtime.GOOS + "/" + runtime.GOARCH + " " + PreviousVersion))
	dir := filepath.Join(cacheRoot, "example-"+PreviousVersion[:12]+"-"+hex.EncodeToString(h[:])[:16])
	bin := filepath.Join(dir, "example")
	if _, err := os.Stat(bin); err == nil {
		fmt.Fprintf(progress, "testbed: example/cmd of %s (the previous version): cached\n", PreviousVersion[:12])
		return bin, nil
	}
	start := time.Now()
	fmt.Fprintf(progress, "testbed: building example/cmd of %s (the previous version) with -race ...\n", PreviousVersion[:12])
	src, err := os.MkdirTemp("", "groupcache-k8s-previous-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(src)
	archive := exec.CommandContext(ctx, "sh", "-c", `git -C "$1" archive --format=tar "$2" | tar -x -C "$3"`,
		"sh", RootDir(), PreviousVersion, src)
	if out, err := archive.CombinedOutput(); err != nil {
		return "", fmt.Errorf("git archive %s (the previous version; the e2e suite needs the repository's history): %v\n%s",
			PreviousVersion, err, out)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	tmp := bin + ".tmp"
	// The previous version's modules resolve the library with replace ../, not a workspace.
	if err := goBuild(ctx, filepath.Join(src, "example"), "./cmd", tmp, "GOWORK=off", "-race"); err != nil {
		return "", err
	}
	if err := os.Rename(tmp, bin); err != nil {
		return "", err
	}
	fmt.Fprintf(progress, "testbed: built the previous version's example/cmd in %s\n", since(start))
	return bin, nil
}

// buildCached returns the cached binary of c, building it first if this version has never
// been built. The cache key covers the module's go.mod, go.sum and main package, and the Go
// version, so a version bump rebuilds and nothing else does.
func buildCached(ctx context.Context, c component, cacheRoot, goVersion string, progress io.Writer) (string, error) {
	modDir := filepath.Join(E2EDir(), c.module)
	h := sha256.New()
	fmt.Fprintf(h, "%s %s/%s %s\n", goVersion, runtime.GOOS, runtime.GOARCH, c.pkg)
	for _, f := range []string{"go.mod", "go.sum", filepath.Join(c.pkg, "main.go")} {
		data, err := os.ReadFile(filepath.Join(modDir, f))
		if err != nil {
			return "", err
		}
		h.Write(data)
	}
	dir := filepath.Join(cacheRoot, c.name+"-"+hex.EncodeToString(h.Sum(nil))[:16])
	bin := filepath.Join(dir, c.name)
	if _, err := os.Stat(bin); err == nil {
		fmt.Fprintf(progress, "testbed: %s (%s): cached\n", c.name, c.version)
		return bin, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	start := time.Now()
	fmt.Fprintf(progress, "testbed: building %s (%s) from the module proxy; the first build takes %s ...\n",
		c.name, c.version, c.firstBuild)
	tmp := bin + ".tmp"
	if err := goBuild(ctx, modDir, c.pkg, tmp, controlPlaneEnv); err != nil {
		return "", err
	}
	if err := os.Rename(tmp, bin); err != nil { // atomic: a half-built binary is never cached
		return "", err
	}
	fmt.Fprintf(progress, "testbed: built %s in %s\n", c.name, since(start))
	return bin, nil
}

// controlPlaneEnv is the environment entry of the control plane's builds. Its modules are
// not in the repository's workspace (go.work at the root): the Kubernetes and etcd versions
// they pin must not raise the versions the library is tested with. Inside the workspace's
// directory the go command refuses to build a module that is not in it, so they build
// alone.
const controlPlaneEnv = "GOWORK=off"

// exampleEnv is the environment entry of the example's build: the repository's workspace,
// even when the caller's environment turns workspaces off. The example's go.mod requires
// the library's release; the workspace gives it this checkout's library.
func exampleEnv() string { return "GOWORK=" + filepath.Join(RootDir(), "go.work") }

// goBuild builds pkg of the module in dir into out with go build's flags.
func goBuild(ctx context.Context, dir, pkg, out, env string, flags ...string) error {
	cmd := goCommand(ctx, dir, env, append(append([]string{"build", "-o", out}, flags...), pkg)...)
	if output, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s in %s: %v\n%s", pkg, dir, err, output)
	}
	return nil
}

// goCommand is the go command with args, run in dir with env (a "NAME=value" entry) added
// to this process's environment.
func goCommand(ctx context.Context, dir, env string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env)
	return cmd
}

func goEnv(ctx context.Context, name string) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", name).Output()
	if err != nil {
		return "", fmt.Errorf("go env %s: %v", name, err)
	}
	return strings.TrimSpace(string(out)), nil
}

func since(t time.Time) time.Duration { return time.Since(t).Round(100 * time.Millisecond) }
