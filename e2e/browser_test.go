package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/groupcache-k8s/k8s/e2e/testbed"
)

// TestOperatorPageInABrowser (issue 12) opens the operator page of a pod of a three-pod
// cluster in headless Chromium, as a person would: the ring lists the three pods with
// shares that add up to 100 %, and the key form names the owner the pod's /owner names. A
// screenshot is saved in the test's artifact directory (kept with go test -artifacts). The
// pod's /metrics, on the same port, agrees with its /stats.
func TestOperatorPageInABrowser(t *testing.T) {
	browser := chromiumPath(t)
	app := newApp(t, testbed.AppOptions{})
	var pods []*testbed.Pod
	for i := range 3 {
		pods = append(pods, startPod(t, app, "pod-"+strconv.Itoa(i), testbed.PodOptions{Env: []string{"ADMIN_PORT=9090"}}))
	}
	waitRings(t, pods, pods)
	getAll(t, pods, testbed.Keys("page-", 300)) // some traffic for the page's counters
	owner, err := pods[0].Owner(t.Context(), "hello")
	if err != nil {
		t.Fatal(err)
	}

	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(browser), chromedp.NoSandbox,
		chromedp.WindowSize(1200, 900))
	alloc, cancelAlloc := chromedp.NewExecAllocator(t.Context(), opts...)
	defer cancelAlloc()
	ctx, cancel := chromedp.NewContext(alloc)
	defer cancel()
	ctx, cancelTimeout := context.WithTimeout(ctx, 2*time.Minute)
	defer cancelTimeout()

	page := "http://" + pods[0].IP + ":9090/debug/groupcache"
	if err := chromedp.Do(ctx, chromedp.Navigate(page), chromedp.WaitVisible(chromedp.ID("ring"))); err != nil {
		t.Fatalf("opening %s in Chromium: %v", page, err)
	}
	rows, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](
		`[...document.querySelectorAll("#ring tr")].slice(1).map(r => r.innerText)`))
	if err != nil {
		t.Fatal(err)
	}
	key := chromedp.CSS(`input[name="key"]`)
	if err := chromedp.Do(ctx, chromedp.SetValue(key, "hello"), chromedp.Submit(key),
		chromedp.WaitVisible(chromedp.ID("owner"))); err != nil {
		t.Fatalf("asking the key form: %v", err)
	}
	answer, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID("owner")))
	if err != nil {
		t.Fatal(err)
	}
	shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)) // quality 100: a PNG
	if err != nil {
		t.Fatal(err)
	}

	total := 0.0
	for _, p := range pods {
		found := false
		for _, row := range rows {
			if strings.Contains(row, p.GroupcacheAddr()) {
				found = true
				fields := strings.Fields(row)
				for i, f := range fields {
					if f == "%" && i > 0 {
						share, err := strconv.ParseFloat(fields[i-1], 64)
						if err != nil {
							t.Fatalf("share in row %q: %v", row, err)
						}
						total += share
					}
				}
			}
		}
		if !found {
			t.Errorf("the ring on the page does not list %s: %q", p.GroupcacheAddr(), rows)
		}
	}
	if total < 99.9 || total > 100.1 {
		t.Errorf("the shares on the page add up to %.2f %%, want 100 %%: %q", total, rows)
	}
	if !strings.Contains(answer, owner) {
		t.Errorf("the key form answered %q; the pod's /owner says %s", answer, owner)
	}
	// The same port serves the Prometheus metrics: a scrape agrees with the pod's /stats.
	resp, err := http.Get("http://" + pods[0].IP + ":9090/metrics")
	if err != nil {
		t.Fatal(err)
	}
	scrape, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	st := stats(t, pods[0])
	for _, want := range []string{"groupcache_k8s_peers 3\n",
		fmt.Sprintf("groupcache_k8s_ring_rebuilds_total %d\n", st.Peers.RingRebuilds),
		fmt.Sprintf("groupcache_server_requests_total{group=\"example\"} %d\n", st.Group.ServerRequests)} {
		if !strings.Contains(string(scrape), want) {
			t.Errorf("the scrape of %s lacks %q", pods[0].Name, want)
		}
	}
	path := filepath.Join(t.ArtifactDir(), "operator-page.png")
	if err := os.WriteFile(path, shot, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("the page showed %d ring rows, shares adding up to %.2f %%, and %q; screenshot %s", len(rows), total, answer, path)
}

// chromiumPath finds the Chromium that `make test` installs (Debian's chromium package).
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("no Chromium found: `make test` installs Debian's chromium package (see the README); " +
		"or run `make browser`")
	return ""
}
