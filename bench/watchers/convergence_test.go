package watchers

import (
	"context"
	"net"
	"slices"
	"strconv"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"
)

// BenchmarkConvergence: ten watchers of one kind follow a Service of ten pods while one pod
// at a time turns not ready and ready again, 100 changes; reported is the time from the Pod
// status patch to each watcher's updated peer list (1000 samples), p50 and p99. The
// EndpointSlice controller's own delay is in both.
func BenchmarkConvergence(b *testing.B) {
	const watchers, changes = 10, 100
	all := setupService(b, "convergence", 1, 10)
	for _, im := range impls {
		b.Run("impl="+im.name, func(b *testing.B) {
			ctx := context.Background()
			var ws []*watcher
			for range watchers {
				client, err := kubernetes.NewForConfig(cluster.AdminConfig)
				if err != nil {
					b.Fatal(err)
				}
				w, err := im.start(ctx, client, "convergence")
				if err != nil {
					b.Fatal(err)
				}
				defer w.stop()
				ws = append(ws, w)
			}
			if _, err := waitAll(ctx, ws, all); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			var lat []time.Duration
			for i := range changes {
				pod, ready := (i/2)%10, i%2 == 1
				want := all
				if !ready {
					id := net.JoinHostPort(podIP(1, pod), strconv.Itoa(port))
					want = slices.DeleteFunc(slices.Clone(all), func(p string) bool { return p == id })
				}
				start := time.Now()
				if err := setReady(ctx, "convergence", 1, pod, ready); err != nil {
					b.Fatal(err)
				}
				ats, err := waitAll(ctx, ws, want)
				if err != nil {
					b.Fatal(err)
				}
				for _, at := range ats {
					lat = append(lat, at.Sub(start))
				}
			}
			b.StopTimer()
			slices.Sort(lat)
			b.ReportMetric(ms(lat[len(lat)/2]), "p50-ms")
			b.ReportMetric(ms(lat[len(lat)*99/100]), "p99-ms")
			b.ReportMetric(0, "ns/op")
		})
	}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
