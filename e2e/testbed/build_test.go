package testbed

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestBuildsFindTheirModules checks, with go list, that each build of the test bed finds
// the code it is meant to build, whether or not the caller's environment turns workspaces
// off: each control-plane program its own module, outside the repository's workspace, and
// the example this checkout's library, through the workspace, not the release its go.mod
// requires.
func TestBuildsFindTheirModules(t *testing.T) {
	type build struct {
		name, dir, env string
		pkg            string // the package whose module's directory is asked for
		wantDir        string
	}
	builds := []build{{
		name: "example's library", dir: filepath.Join(RootDir(), "example"), env: exampleEnv(),
		pkg: "github.com/groupcache-k8s/k8s", wantDir: RootDir(),
	}}
	for _, c := range components {
		modDir := filepath.Join(E2EDir(), c.module)
		builds = append(builds, build{name: c.name, dir: modDir, env: controlPlaneEnv, pkg: c.pkg, wantDir: modDir})
	}
	for _, callerGOWORK := range []string{"", "off"} {
		for _, b := range builds {
			t.Run("GOWORK="+callerGOWORK+"/"+b.name, func(t *testing.T) {
				t.Setenv("GOWORK", callerGOWORK)
				out, err := goCommand(t.Context(), b.dir, b.env, "list", "-f", "{{.Module.Dir}}", b.pkg).CombinedOutput()
				if err != nil {
					t.Fatalf("go list %s in %s: %v\n%s", b.pkg, b.dir, err, out)
				}
				if got := strings.TrimSpace(string(out)); got != b.wantDir {
					t.Errorf("%s is built from the module in %s, want %s", b.pkg, got, b.wantDir)
				}
			})
		}
	}
}
