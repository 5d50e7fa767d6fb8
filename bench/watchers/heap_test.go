package watchers

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

// heapSizes are the Service sizes measured; the i-th has base 10+i for podIP.
var heapSizes = []int{1, 100, 1000}

// heapChildEnv tells a re-executed benchmark binary to measure one watcher and exit.
const heapChildEnv = "WATCHERS_HEAP_CHILD"

// BenchmarkHeap: the live heap one watcher holds, after garbage collection, for a Service of
// 1, 100 and 1000 ready endpoints (the controller writes slices of up to 100). Each reading
// is taken in a fresh process, so one-time costs (such as encoding/json's type cache) count
// and nothing left over from other benchmarks does. The clientset has connected before the
// first reading, so what is counted is what watching adds to a process that already talks
// to the API server.
func BenchmarkHeap(b *testing.B) {
	for i, n := range heapSizes {
		namespace := fmt.Sprintf("heap-%d", n)
		setupService(b, namespace, 10+i, n)
		for _, im := range impls {
			b.Run(fmt.Sprintf("endpoints=%d/impl=%s", n, im.name), func(b *testing.B) {
				cmd := exec.Command(os.Args[0], "-test.run=^$")
				cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s,%s,%d,%s", heapChildEnv, im.name, namespace, n, cluster.AdminKubeconfig()))
				cmd.Stderr = os.Stderr
				out, err := cmd.Output()
				if err != nil {
					b.Fatalf("heap child: %v", err)
				}
				bytes, err := strconv.ParseInt(strings.TrimSpace(string(out)), 10, 64)
				if err != nil {
					b.Fatalf("heap child said %q", out)
				}
				b.ReportMetric(float64(bytes)/1024, "heap-KiB")
				b.ReportMetric(0, "ns/op")
			})
		}
	}
}

// heapChild measures one watcher, as described by spec ("impl,namespace,n,kubeconfig"), and
// prints the live heap it added in bytes.
func heapChild(spec string) error {
	parts := strings.Split(spec, ",")
	if len(parts) != 4 {
		return fmt.Errorf("bad %s %q", heapChildEnv, spec)
	}
	name, namespace, kubeconfig := parts[0], parts[1], parts[3]
	n, err := strconv.Atoi(parts[2])
	if err != nil {
		return err
	}
	config, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return err
	}
	client, err := kubernetes.NewForConfig(config)
	if err != nil {
		return err
	}
	var start func(context.Context, kubernetes.Interface, string) (*watcher, error)
	for _, im := range impls {
		if im.name == name {
			start = im.start
		}
	}
	if start == nil {
		return fmt.Errorf("no watcher %q", name)
	}
	if os.Getenv("HEAP_PROFILE_DIR") != "" {
		runtime.MemProfileRate = 1
	}
	ctx := context.Background()
	// Connect first: the TLS and HTTP/2 connection is the clientset's, shared with everything
	// else the process asks of the API server, and the same for both watchers.
	if _, err := client.CoreV1().Namespaces().Get(ctx, namespace, metav1.GetOptions{}); err != nil {
		return err
	}
	before := liveHeap()
	w, err := start(ctx, client, namespace)
	if err != nil {
		return err
	}
	base := 10 + slices.Index(heapSizes, n)
	if _, err := waitAll(ctx, []*watcher{w}, servicePeers(base, n)); err != nil {
		return err
	}
	after := liveHeap()
	if dir := os.Getenv("HEAP_PROFILE_DIR"); dir != "" {
		f, err := os.Create(fmt.Sprintf("%s/heap-%d-%s.pprof", dir, n, name))
		if err != nil {
			return err
		}
		pprof.Lookup("heap").WriteTo(f, 0)
		f.Close()
	}
	runtime.KeepAlive(w)
	fmt.Println(after - before)
	w.stop()
	return nil
}

// liveHeap returns the bytes of live heap objects after a full collection.
func liveHeap() int64 {
	var m runtime.MemStats
	for range 3 { // the third drops what sync.Pools held before the first
		runtime.GC()
	}
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc)
}
