package watchers

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/groupcache-k8s/k8s/e2e/testbed"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// service namespaces already set up, by name: a benchmark function runs once per -count.
var (
	setupMu sync.Mutex
	setUp   = map[string][]string{}
)

// podIP is the address of pod i of a namespace's n; no process listens there, only the
// EndpointSlices carry it.
func podIP(base, i int) string { return fmt.Sprintf("10.%d.%d.%d", base, i/250, i%250+1) }

// setupService creates namespace with the Service and n Ready pods (Pod objects whose
// status the test bed writes as a kubelet would), once, and returns the peers the
// EndpointSlice controller will publish.
func setupService(b testing.TB, namespace string, base, n int) []string {
	b.Helper()
	setupMu.Lock()
	defer setupMu.Unlock()
	if peers, ok := setUp[namespace]; ok {
		return peers
	}
	ctx := context.Background()
	core := cluster.Admin.CoreV1()
	if _, err := core.Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}}, metav1.CreateOptions{}); err != nil {
		b.Fatal(err)
	}
	if _, err := core.ServiceAccounts(namespace).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default"}}, metav1.CreateOptions{}); err != nil {
		b.Fatal(err)
	}
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: service}, Spec: corev1.ServiceSpec{
		Selector: map[string]string{"app": service},
		Ports:    []corev1.ServicePort{{Name: "groupcache", Port: port, TargetPort: intstr.FromInt32(port)}},
	}}
	if _, err := core.Services(namespace).Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		b.Fatal(err)
	}
	errs := make(chan error, n)
	sem := make(chan struct{}, 16)
	for i := range n {
		sem <- struct{}{}
		go func() {
			defer func() { <-sem }()
			errs <- createReadyPod(ctx, namespace, base, i)
		}()
	}
	for range n {
		if err := <-errs; err != nil {
			b.Fatal(err)
		}
	}
	peers := servicePeers(base, n)
	setUp[namespace] = peers
	return peers
}

// servicePeers returns the peer ids of n pods with base, sorted.
func servicePeers(base, n int) []string {
	peers := make([]string, n)
	for i := range peers {
		peers[i] = net.JoinHostPort(podIP(base, i), strconv.Itoa(port))
	}
	slices.Sort(peers)
	return peers
}

// createReadyPod creates pod i and marks it Running and Ready.
func createReadyPod(ctx context.Context, namespace string, base, i int) error {
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("pod-%d", i), Labels: map[string]string{"app": service}},
		Spec: corev1.PodSpec{NodeName: testbed.NodeName, Containers: []corev1.Container{{
			Name: "example", Image: "example",
			Ports: []corev1.ContainerPort{{Name: "groupcache", ContainerPort: port}},
		}}},
	}
	if _, err := cluster.Admin.CoreV1().Pods(namespace).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		return err
	}
	return testbed.PatchPodStatus(ctx, cluster.Admin, namespace, pod.Name, true, podIP(base, i))
}

// setReady sets pod i's Ready condition.
func setReady(ctx context.Context, namespace string, base, i int, ready bool) error {
	return testbed.PatchPodStatus(ctx, cluster.Admin, namespace, fmt.Sprintf("pod-%d", i), ready, podIP(base, i))
}

func waitAll(ctx context.Context, ws []*watcher, want []string) ([]time.Time, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	ats := make([]time.Time, len(ws))
	for i, w := range ws {
		at, err := w.waitFor(ctx, want)
		if err != nil {
			return nil, err
		}
		ats[i] = at
	}
	return ats, nil
}
