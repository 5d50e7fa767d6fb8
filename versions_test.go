package k8s

// Tests of the versions the modules require: what the README's "Versions and compatibility"
// states, and what go.work gives the nested modules.

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// requirements reads the require and replace directives of a go.mod or go.work file: the
// version each module path is required at, and the version of each path a replace names
// ("" for a replace of every version).
func requirements(t *testing.T, file string) (require, replace map[string]string) {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	require, replace = map[string]string{}, map[string]string{}
	directive := func(kind string, f []string) {
		switch arrow := slices.Index(f, "=>"); {
		case kind == "require" && len(f) >= 2:
			require[f[0]] = f[1]
		case kind == "replace" && arrow == 1:
			replace[f[0]] = ""
		case kind == "replace" && arrow == 2:
			replace[f[0]] = f[1]
		}
	}
	block := "" // the directive of the ( ) block the line is in
	for _, line := range strings.Split(string(data), "\n") {
		line, _, _ = strings.Cut(line, "//")
		switch f := strings.Fields(line); {
		case len(f) == 0:
		case len(f) == 2 && f[1] == "(":
			block = f[0]
		case f[0] == ")":
			block = ""
		case f[0] == "require" || f[0] == "replace":
			directive(f[0], f[1:])
		default:
			directive(block, f)
		}
	}
	return require, replace
}

// readmeVersions is the oldest and the newest version of the README's row that starts with
// the cell name, in "Versions and compatibility".
func readmeVersions(t *testing.T, name string) (oldest, newest string) {
	t.Helper()
	data, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(data), "\n## Versions and compatibility\n")
	if !ok {
		t.Fatal(`README.md has no section "Versions and compatibility"`)
	}
	for _, line := range strings.Split(section, "\n") {
		cells := strings.Split(line, "|")
		if len(cells) > 4 && strings.HasPrefix(strings.TrimSpace(cells[1]), name) {
			return strings.TrimSpace(cells[2]), strings.TrimSpace(cells[3])
		}
	}
	t.Fatalf("README.md's versions table has no row for %s", name)
	return "", ""
}

// TestREADMEVersions checks the README's version ranges against the go.mod files: the
// oldest is what the library's go.mod requires (make test runs the library's tests with
// it), the newest what the nested modules require (the workspace tests with it). A go.mod
// raised by hand or by go work sync, which writes the workspace's newest versions into every
// module's go.mod, fails here.
func TestREADMEVersions(t *testing.T) {
	root, _ := requirements(t, "go.mod")
	nested := map[string]map[string]string{}
	for _, dir := range []string{"bench", "e2e", "example", "prometheus"} {
		nested[dir], _ = requirements(t, filepath.Join(dir, "go.mod"))
	}
	for _, c := range []struct {
		row     string   // the README's first cell
		modules []string // the modules the row's versions are of
	}{
		{"`k8s.io/client-go`", []string{"k8s.io/client-go", "k8s.io/api", "k8s.io/apimachinery"}},
		{"`google.golang.org/grpc`", []string{"google.golang.org/grpc"}},
	} {
		oldest, newest := readmeVersions(t, c.row)
		for _, m := range c.modules {
			if got := root[m]; got != oldest {
				t.Errorf("go.mod requires %s %s; the README's oldest is %s", m, got, oldest)
			}
			for dir, req := range nested {
				if got, ok := req[m]; ok && got != newest {
					t.Errorf("%s/go.mod requires %s %s; the README's newest is %s", dir, m, got, newest)
				}
			}
		}
	}
}

// TestWorkspaceReplacesRequiredVersions checks that go.work points exactly the versions at
// which the nested modules require the repository's own modules at this checkout: a nested
// go.mod moved to a new release without go.work (or the other way round) would make the
// workspace fetch that release from the module proxy, where it may not exist yet.
func TestWorkspaceReplacesRequiredVersions(t *testing.T) {
	_, replace := requirements(t, "go.work")
	const repo = "github.com/groupcache-k8s/k8s"
	checked := 0
	for _, dir := range []string{"bench", "e2e", "example", "prometheus"} {
		require, _ := requirements(t, filepath.Join(dir, "go.mod"))
		for m, version := range require {
			if m != repo && !strings.HasPrefix(m, repo+"/") {
				continue
			}
			checked++
			switch got, ok := replace[m]; {
			case !ok:
				t.Errorf("%s/go.mod requires %s %s; go.work does not replace it", dir, m, version)
			case got != version:
				t.Errorf("%s/go.mod requires %s %s; go.work replaces version %q of it", dir, m, version, got)
			}
		}
	}
	if checked == 0 {
		t.Error("no nested module requires a module of this repository: the test reads the wrong files")
	}
}
