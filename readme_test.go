package k8s

// Tests of README.md: its main.go builds against this library, its manifest excerpts are
// objects the API server would accept, its shutdown budget fits the drain, and its links
// lead somewhere. The README is what users copy; these keep it from going stale.

import (
	"cmp"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer/json"
	"k8s.io/client-go/kubernetes/scheme"
)

// fencedBlock is a fenced code block of a Markdown file.
type fencedBlock struct {
	lang string // the word after the opening fence: "go", "yaml", "sh"
	text string // the lines between the fences, each ending in a newline
	line int    // the line of the opening fence, from 1
}

// fencedBlocks returns the fenced code blocks of markdown, in order.
func fencedBlocks(t *testing.T, markdown string) []fencedBlock {
	t.Helper()
	var blocks []fencedBlock
	var open *fencedBlock
	for i, line := range strings.Split(markdown, "\n") {
		switch {
		case open == nil && strings.HasPrefix(line, "```"):
			open = &fencedBlock{lang: strings.TrimPrefix(line, "```"), line: i + 1}
		case open != nil && line == "```":
			blocks = append(blocks, *open)
			open = nil
		case open != nil:
			open.text += line + "\n"
		}
	}
	if open != nil {
		t.Fatalf("the code block opened on line %d is not closed", open.line)
	}
	return blocks
}

func readREADME(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// readmeMain returns the README's complete program: its one Go block of package main.
func readmeMain(t *testing.T) fencedBlock {
	t.Helper()
	var mains []fencedBlock
	for _, b := range fencedBlocks(t, readREADME(t)) {
		if b.lang == "go" && regexp.MustCompile(`(?m)^package main$`).MatchString(b.text) {
			mains = append(mains, b)
		}
	}
	if len(mains) != 1 {
		t.Fatalf("README.md has %d Go blocks of package main; want one, the complete main.go", len(mains))
	}
	return mains[0]
}

// TestReadmeMainBuilds: the README's main.go type-checks and passes go vet against this
// checkout of the library and the versions of go.mod. It is written into a directory of
// the module whose name starts with "_", which ./... patterns leave out.
func TestReadmeMainBuilds(t *testing.T) {
	main := readmeMain(t)
	dir, err := os.MkdirTemp(".", "_readme_main")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(main.text), 0o644); err != nil {
		t.Fatal(err)
	}
	// go test puts its own go first on the PATH of the tests it runs.
	cmd := exec.Command("go", "vet", "./"+filepath.Base(dir))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go vet of README.md's main.go (the block on line %d) failed: %v\n%s", main.line, err, out)
	}
}

// TestReadmeShutdownBudget: the budget the README's main.go gives Shutdown at SIGTERM
// covers the longest Shutdown (the default drain, then the server's graceful stop) and
// fits the README's pod spec: its grace period less its preStop sleep.
func TestReadmeShutdownBudget(t *testing.T) {
	m := regexp.MustCompile(`(?m)^\s*shutdownBudget\s*=\s*(\d+)\s*\*\s*time\.Second\b`).FindStringSubmatch(readmeMain(t).text)
	if m == nil {
		t.Fatal("README.md's main.go has no shutdownBudget = N * time.Second")
	}
	seconds, _ := strconv.Atoi(m[1])
	budget := time.Duration(seconds) * time.Second
	if longest := defaultDrain + serverStopTimeout; budget < longest {
		t.Errorf("README.md's shutdownBudget is %v; Shutdown may take %v (the drain, then the server's stop)", budget, longest)
	}
	var pod *corev1.Pod
	for _, b := range fencedBlocks(t, readREADME(t)) {
		if b.lang == "yaml" && strings.Contains(b.text, "preStop:") && strings.Contains(b.text, "\n  containers:") {
			if pod != nil {
				t.Fatal("README.md has more than one pod spec with a preStop hook; want the one that goes with main.go")
			}
			pod = &corev1.Pod{}
			decodeStrict(t, b, &podKind, pod)
		}
	}
	if pod == nil {
		t.Fatal("README.md has no pod spec (spec: with containers: and a preStop hook)")
	}
	if pod.Spec.TerminationGracePeriodSeconds == nil || len(pod.Spec.Containers) != 1 ||
		pod.Spec.Containers[0].Lifecycle == nil || pod.Spec.Containers[0].Lifecycle.PreStop == nil ||
		pod.Spec.Containers[0].Lifecycle.PreStop.Sleep == nil {
		t.Fatal("README.md's pod spec needs terminationGracePeriodSeconds and one container with a preStop sleep")
	}
	grace := time.Duration(*pod.Spec.TerminationGracePeriodSeconds) * time.Second
	preStop := time.Duration(pod.Spec.Containers[0].Lifecycle.PreStop.Sleep.Seconds) * time.Second
	if budget > grace-preStop {
		t.Errorf("README.md's shutdownBudget %v does not fit its pod spec: grace period %v less preStop %v is %v",
			budget, grace, preStop, grace-preStop)
	}
}

var (
	podKind        = schema.GroupVersionKind{Version: "v1", Kind: "Pod"}
	deploymentKind = appsv1.SchemeGroupVersion.WithKind("Deployment")
)

// decodeStrict decodes a YAML block into into (nil: a new object of the block's kind), as
// kind unless the block names its own (kind nil: it must),
// refusing unknown and duplicate fields as the API server's strict field validation does.
func decodeStrict(t *testing.T, b fencedBlock, kind *schema.GroupVersionKind, into runtime.Object) {
	t.Helper()
	s := json.NewSerializerWithOptions(json.DefaultMetaFactory, scheme.Scheme, scheme.Scheme,
		json.SerializerOptions{Yaml: true, Strict: true})
	if _, _, err := s.Decode([]byte(b.text), kind, into); err != nil {
		t.Errorf("README.md, the YAML block on line %d: %v", b.line, err)
	}
}

// TestReadmeManifestExcerpts: every YAML block of the README decodes strictly: a block
// of whole objects (apiVersion and kind) as those objects, and an excerpt of a pod or a
// Deployment (one that starts with spec:) as that.
func TestReadmeManifestExcerpts(t *testing.T) {
	decoded := 0
	for _, b := range fencedBlocks(t, readREADME(t)) {
		if b.lang != "yaml" {
			continue
		}
		for _, doc := range strings.Split(b.text, "\n---\n") {
			d := fencedBlock{lang: b.lang, text: doc, line: b.line}
			switch {
			case strings.Contains(doc, "apiVersion:"):
				decodeStrict(t, d, nil, nil)
			case strings.Contains(doc, "\n  template:\n"):
				decodeStrict(t, d, &deploymentKind, &appsv1.Deployment{})
			case strings.HasPrefix(doc, "spec:\n"):
				decodeStrict(t, d, &podKind, &corev1.Pod{})
			default:
				t.Errorf("README.md, the YAML block on line %d: neither whole objects nor a pod's or Deployment's spec:\n%s", b.line, doc)
			}
			decoded++
		}
	}
	if decoded == 0 {
		t.Fatal("README.md has no YAML block")
	}
}

// TestReadmeLinks: every relative link of the README leads to a file of the repository,
// and every #anchor to a heading of that file (GitHub's anchors: the heading in lower
// case, without punctuation, spaces as hyphens).
func TestReadmeLinks(t *testing.T) {
	readme := readREADME(t)
	links := regexp.MustCompile(`\]\(([^)\s]+)\)`).FindAllStringSubmatch(readme, -1)
	checked := 0
	for _, l := range links {
		target := l[1]
		if strings.Contains(target, "://") {
			continue
		}
		file, anchor, _ := strings.Cut(target, "#")
		text := readme
		if file != "" {
			data, err := os.ReadFile(filepath.FromSlash(file))
			if err != nil {
				if info, dirErr := os.Stat(filepath.FromSlash(file)); dirErr == nil && info.IsDir() && anchor == "" {
					checked++
					continue
				}
				t.Errorf("README.md links to %s: %v", target, err)
				continue
			}
			text = string(data)
		}
		if anchor != "" && !slices.Contains(markdownAnchors(text), anchor) {
			t.Errorf("README.md links to %s: %s has no heading with the anchor #%s", target, cmp.Or(file, "README.md"), anchor)
		}
		checked++
	}
	if checked == 0 {
		t.Fatal("README.md has no relative link")
	}
}

// markdownAnchors returns GitHub's anchors of the headings of a Markdown file.
func markdownAnchors(markdown string) []string {
	var anchors []string
	inBlock := false
	for _, line := range strings.Split(markdown, "\n") {
		if strings.HasPrefix(line, "```") {
			inBlock = !inBlock
		}
		if inBlock || !strings.HasPrefix(line, "#") {
			continue
		}
		heading := strings.TrimSpace(strings.TrimLeft(line, "#"))
		var b strings.Builder
		for _, r := range strings.ToLower(heading) {
			switch {
			case r == ' ':
				b.WriteRune('-')
			case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r):
				b.WriteRune(r)
			}
		}
		anchors = append(anchors, b.String())
	}
	return anchors
}
