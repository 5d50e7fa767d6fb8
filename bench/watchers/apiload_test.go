package watchers

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"
)

// Real servers end a watch after its timeoutSeconds (5 to 10 minutes for both clients). The
// benchmark ends each watch once it has streamed this long, more than the one second under
// which our watcher counts a watch without events as a failure.
const watchLife = 1100 * time.Millisecond

// BenchmarkAPILoad: one watcher through a proxy that counts its requests. Twenty watches are
// ended the way a server timeout ends them; then the API server restarts while the next watch
// is held back, so that watch gets a real 410. Reported: LIST and WATCH requests for the
// twenty ends and for the 410, counted by the proxy, and by the API server's own
// apiserver_request_total for namespaced EndpointSlice requests (the controller's are cluster
// scoped and not in it; the server counts a watch when it ends, and its counters restart with
// it).
func BenchmarkAPILoad(b *testing.B) {
	all := setupService(b, "apiload", 30, 3)
	for _, im := range impls {
		b.Run("impl="+im.name, func(b *testing.B) {
			ctx := context.Background()
			proxy, err := newAPIProxy(b.TempDir())
			if err != nil {
				b.Fatal(err)
			}
			defer proxy.close()
			client, err := kubernetes.NewForConfig(proxy.config)
			if err != nil {
				b.Fatal(err)
			}
			first := proxy.nextWatch()
			w, err := im.start(ctx, client, "apiload")
			if err != nil {
				b.Fatal(err)
			}
			defer w.stop()
			if _, err := waitAll(ctx, []*watcher{w}, all); err != nil {
				b.Fatal(err)
			}
			waitClosed(b, first, "the first watch")
			lists0, watches0 := proxy.counts()
			b.ReportMetric(float64(lists0), "lists/start")
			b.ReportMetric(float64(watches0), "watches/start")
			server0 := serverRequests(b)

			for i := range 20 {
				age, _ := proxy.state()
				time.Sleep(watchLife - age) // a watch's required life time, not synchronisation
				next := proxy.nextWatch()
				proxy.endWatches()
				waitClosed(b, next, fmt.Sprintf("the watch after end %d", i+1))
			}
			lists1, watches1 := proxy.counts()

			server1 := serverRequests(b)

			// A 410 as a rolling update of the API server causes it: the watch is ended and
			// held back while the API server restarts; the restarted server's watch cache
			// starts after the watcher's resourceVersion and refuses it.
			held := proxy.nextHeld()
			age, _ := proxy.state()
			time.Sleep(watchLife - age)
			proxy.holdWatches()
			proxy.endWatches()
			waitClosed(b, held, "the watch held back")
			cluster.KillAPIServer()
			if err := cluster.StartAPIServer(ctx); err != nil {
				b.Fatal(err)
			}
			if err := cluster.RestartControllerManager(); err != nil { // as leader election would
				b.Fatal(err)
			}
			next := proxy.nextWatch()
			proxy.release()
			waitClosed(b, next, "the held watch (answered with a 410)")
			// Ours relists with a LIST and watches again; client-go's informer relists with
			// a streaming watch-list, which is its next watch too.
			if _, err := waitAll(ctx, []*watcher{w}, all); err != nil {
				b.Fatal(err)
			}
			for { // settled: the current watch has lived a while and nothing new was asked
				lists, watches := proxy.counts()
				time.Sleep(2 * watchLife)
				if l, w := proxy.counts(); l == lists && w == watches {
					break
				}
			}
			lists2, watches2 := proxy.counts()
			server2 := serverRequests(b) // counted since the restart

			b.ReportMetric(float64(lists1-lists0), "lists/20-ends")
			b.ReportMetric(float64(watches1-watches0), "watches/20-ends")
			b.ReportMetric(float64(lists2-lists1), "lists/410")
			b.ReportMetric(float64(watches2-watches1), "watches/410")
			b.ReportMetric(float64(server1["LIST"]-server0["LIST"]), "server-lists/20-ends")
			b.ReportMetric(float64(server1["WATCH"]-server0["WATCH"]), "server-watches/20-ends")
			b.ReportMetric(float64(server2["LIST"]), "server-lists/410")
			b.ReportMetric(float64(server2["WATCH"]), "server-watches/410")
			b.ReportMetric(0, "ns/op")
		})
	}
}

func waitClosed(b *testing.B, c <-chan struct{}, what string) {
	b.Helper()
	select {
	case <-c:
	case <-time.After(2 * time.Minute):
		b.Fatalf("timed out waiting for %s", what)
	}
}

// serverRequests reads the API server's apiserver_request_total for namespaced EndpointSlice
// requests, summed over response codes, by verb.
func serverRequests(b *testing.B) map[string]int64 {
	b.Helper()
	body, err := cluster.Admin.CoreV1().RESTClient().Get().AbsPath("/metrics").DoRaw(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	out := map[string]int64{}
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "apiserver_request_total{") || !strings.Contains(line, `resource="endpointslices"`) ||
			!strings.Contains(line, `scope="namespace"`) {
			continue
		}
		i := strings.Index(line, `verb="`)
		j := strings.LastIndexByte(line, ' ')
		if i < 0 || j < 0 {
			continue
		}
		verb := line[i+6:]
		verb = verb[:strings.IndexByte(verb, '"')]
		n, _ := strconv.ParseFloat(line[j+1:], 64)
		out[verb] += int64(n)
	}
	return out
}
