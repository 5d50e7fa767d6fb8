package testbed

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
)

// Ports every example pod uses, as in example/k8s.yaml.
const (
	HTTPPort       = 8080
	GroupcachePort = 8081
)

// PodOptions change how StartPod runs one pod.
type PodOptions struct {
	// APIServer is the address the pod's kubeconfig points at; default APIServerAddr. Point
	// it at a Proxy to cut, freeze or heal this pod's watch.
	APIServer string
	// Env is added to the pod's environment (the example's settings).
	Env []string
	// CertCA, if set, issues the pod a certificate for its IP, and the pod talks mutual TLS
	// to its peers, trusting TrustCA (default CertCA).
	CertCA, TrustCA *CA
	// NotReady leaves the Pod's Ready condition False after the process is up.
	NotReady bool
	// Previous runs the example of PreviousVersion, the version before pushes.
	Previous bool
}

// Pod is one example pod: a Pod object and the OS process that plays its container.
type Pod struct {
	// Name is the Pod's name; IP its address inside the namespace.
	Name, IP string
	app      *App
	proc     *process
	peerID   string // as the pod reports it; see PeerID
	// exitStatePath is the file the example writes its exit state to; see ExitState.
	exitStatePath string

	mu        sync.Mutex
	rings     []RingChange
	changed   chan struct{} // closed and replaced on every ring change
	readiness []ReadinessChange
}

// ReadinessChange is a change of the pod's readiness the test bed made, stamped just before
// its write to the API server: a status with Ready True or False, or the start of a graceful
// delete (Ready false: its endpoint turns terminating).
type ReadinessChange struct {
	At    time.Time
	Ready bool
}

// RingChange is one ring a pod published, as its /testonly/rings?since=N reported it, stamped
// when that answer arrived.
type RingChange struct {
	At    time.Time
	Peers []string
}

// StartPod does what the scheduler and the kubelet would: it creates the Pod from the
// manifest's template on NodeName with the next free address (see podAddress), starts the example
// binary bound to that address with the downward-API settings in its environment, waits until
// it answers /healthz, asks its peer id (see PeerID), and then marks the Pod Running and Ready.
func (a *App) StartPod(ctx context.Context, name string, opts PodOptions) (*Pod, error) {
	c := a.c
	c.mu.Lock()
	ip, ok := podAddress(c.nextIP)
	c.nextIP++
	c.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("testbed: out of pod addresses")
	}

	pod := &corev1.Pod{ObjectMeta: *a.template.ObjectMeta.DeepCopy(), Spec: *a.template.Spec.DeepCopy()}
	pod.Name, pod.Namespace = name, a.Namespace
	pod.Spec.NodeName = NodeName
	if _, err := c.Admin.CoreV1().Pods(a.Namespace).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		return nil, fmt.Errorf("create pod %s: %w", name, err)
	}
	apiServer := opts.APIServer
	if apiServer == "" {
		apiServer = APIServerAddr
	}
	kubeconfig, err := a.Kubeconfig(name, apiServer)
	if err != nil {
		return nil, err
	}
	p := &Pod{Name: name, IP: ip, app: a, changed: make(chan struct{}),
		exitStatePath: c.path(a.Namespace + "-" + name + ".exit.json")}
	// A pod of the same name before this one may have left its exit state.
	if err := os.Remove(p.exitStatePath); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	env := append([]string{
		"POD_IP=" + ip, "POD_NAME=" + name, "NAMESPACE=" + a.Namespace, "SERVICE_NAME=" + a.Service,
		"GROUPCACHE_PORT=" + strconv.Itoa(GroupcachePort), "HTTP_PORT=" + strconv.Itoa(HTTPPort),
		"KUBECONFIG=" + kubeconfig, "LOG_FORMAT=json",
		// Every pod of the test bed shares one network namespace and the same ports, so each
		// listens on its own address only; in a cluster the example listens on every interface.
		"LISTEN_IP=" + ip,
		// The example's test-only features: the ring history, which followRings reads, and
		// the exit state, which ExitState reads.
		"TESTONLY_RING_HISTORY=on", "TESTONLY_EXIT_STATE=" + p.exitStatePath, "TESTONLY_BACKEND_KEYS=on",
		// The race detector waits a second before exiting; races still exit with code 66.
		"GORACE=atexit_sleep_ms=0",
	}, opts.Env...)
	if opts.CertCA != nil {
		trust := opts.TrustCA
		if trust == nil {
			trust = opts.CertCA
		}
		certFile, keyFile, err := opts.CertCA.Issue(c.Dir, a.Namespace+"-"+name, net.ParseIP(ip))
		if err != nil {
			return nil, err
		}
		env = append(env, "TLS_CERT_FILE="+certFile, "TLS_KEY_FILE="+keyFile, "TLS_CA_FILE="+trust.CertFile)
	}
	bin := c.bins.Example
	if opts.Previous {
		bin = c.bins.Previous
	}
	if p.proc, err = startProcess(name, c.path(a.Namespace+"-"+name+".log"), env, nil, bin); err != nil {
		return nil, err
	}
	if err := waitHTTP(ctx, p.proc, http.DefaultClient, "http://"+p.HTTPAddr()+"/healthz", ""); err != nil {
		p.proc.stop(time.Second)
		return nil, err
	}
	var self struct{ Self string }
	if err = p.getJSON(ctx, "/peers", &self); err == nil && self.Self == "" {
		err = errors.New(`/peers names no "self"`)
	}
	if err != nil {
		p.proc.stop(time.Second)
		return nil, fmt.Errorf("pod %s: asking its peer id: %w", name, err)
	}
	p.peerID = self.Self
	go p.followRings()
	if err := p.patchStatus(ctx, !opts.NotReady); err != nil {
		return nil, err
	}
	return p, nil
}

// Pod addresses: the first pods get 192.0.2.10 to 192.0.2.250, the ones after them
// 198.18.1.10 and on, 240 to each 198.18.x.0/24; both ranges are on the namespace's loopback
// (RunInNetNS). An address is never given twice in a cluster's life, so a peer id names one
// pod.
const (
	firstPodIP, lastPodIP = 10, 250
	podsPerBlock          = 240
	lastBlock             = 255 // 198.18.255.x is the last /24 of 198.18.0.0/15 used
)

// podAddress returns the n-th pod address, n counting from firstPodIP, and false once they
// are all taken.
func podAddress(n int) (string, bool) {
	if n <= lastPodIP {
		return "192.0.2." + strconv.Itoa(n), true
	}
	k := n - lastPodIP - 1
	block := 1 + k/podsPerBlock
	if block > lastBlock {
		return "", false
	}
	return fmt.Sprintf("198.18.%d.%d", block, firstPodIP+k%podsPerBlock), true
}

// GroupcacheAddr is the pod's gRPC address: its peer id, unless it runs HTTPPool.
func (p *Pod) GroupcacheAddr() string { return net.JoinHostPort(p.IP, strconv.Itoa(GroupcachePort)) }

// PeerID is the pod's peer id, as its rings, /owner and /get name it: its GroupcacheAddr, or
// with TESTONLY_TRANSPORT=httppool its HTTPAddr (the pool's peers are the pods' HTTP
// servers). The pod tells it at start, in /peers' self.
func (p *Pod) PeerID() string { return p.peerID }

// HTTPAddr is the example's HTTP address.
func (p *Pod) HTTPAddr() string { return net.JoinHostPort(p.IP, strconv.Itoa(HTTPPort)) }

// patchStatus writes the status a kubelet would: Running with the pod's IP, Ready or not.
func (p *Pod) patchStatus(ctx context.Context, ready bool) error {
	p.noteReadiness(ready)
	return retryBusy(ctx, func(ctx context.Context) error {
		return PatchPodStatus(ctx, p.app.c.Admin, p.app.Namespace, p.Name, ready, p.IP)
	})
}

// PatchPodStatus writes the status a kubelet writes once a pod's containers run: phase
// Running, its IPs (one per family), and the Ready and ContainersReady conditions.
func PatchPodStatus(ctx context.Context, client kubernetes.Interface, namespace, name string, ready bool, ips ...string) error {
	condition := corev1.ConditionFalse
	if ready {
		condition = corev1.ConditionTrue
	}
	now := metav1.Now()
	status := corev1.PodStatus{
		Phase:     corev1.PodRunning,
		HostIP:    "192.0.2.1",
		PodIP:     ips[0],
		StartTime: &now,
		Conditions: []corev1.PodCondition{
			{Type: corev1.PodReady, Status: condition, LastTransitionTime: now},
			{Type: corev1.ContainersReady, Status: condition, LastTransitionTime: now},
		},
	}
	for _, ip := range ips {
		status.PodIPs = append(status.PodIPs, corev1.PodIP{IP: ip})
	}
	patch, err := json.Marshal(map[string]any{"status": status})
	if err != nil {
		return err
	}
	_, err = client.CoreV1().Pods(namespace).Patch(ctx, name, types.StrategicMergePatchType, patch, metav1.PatchOptions{}, "status")
	if err != nil {
		return fmt.Errorf("patch status of pod %s: %w", name, err)
	}
	return nil
}

// noteReadiness records a change of readiness the test bed is about to write.
func (p *Pod) noteReadiness(ready bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.readiness = append(p.readiness, ReadinessChange{At: time.Now(), Ready: ready})
}

// ReadinessChanges returns every change of readiness the test bed made to the pod, in order:
// its first status, flips, and the start of its delete.
func (p *Pod) ReadinessChanges() []ReadinessChange {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.readiness)
}

// SetReady sets the Pod's Ready condition, as a kubelet does when a readiness probe changes.
func (p *Pod) SetReady(ctx context.Context, ready bool) error { return p.patchStatus(ctx, ready) }

// BeginDelete deletes the Pod gracefully: the API server marks it terminating and the
// EndpointSlice controller marks its endpoint terminating. The process keeps running until
// FinishDelete, as a container keeps running during its grace period.
func (p *Pod) BeginDelete(ctx context.Context) error {
	p.noteReadiness(false)
	grace := int64(30)
	return retryBusy(ctx, func(ctx context.Context) error {
		return p.app.c.Admin.CoreV1().Pods(p.app.Namespace).Delete(ctx, p.Name, metav1.DeleteOptions{GracePeriodSeconds: &grace})
	})
}

// FinishDelete does the kubelet's part of a graceful delete: SIGTERM, wait for the process to
// exit, then remove the Pod object. It returns the process's exit error (ExitError), the
// removal's error, which names the removal, or both joined when both failed.
func (p *Pod) FinishDelete(ctx context.Context) error {
	p.proc.stop(30 * time.Second)
	zero := int64(0)
	err := retryBusy(ctx, func(ctx context.Context) error {
		return p.app.c.Admin.CoreV1().Pods(p.app.Namespace).Delete(ctx, p.Name, metav1.DeleteOptions{GracePeriodSeconds: &zero})
	})
	if err != nil && !apierrors.IsNotFound(err) {
		return errors.Join(p.proc.err, fmt.Errorf("remove pod %s once its process had exited: %w", p.Name, err))
	}
	return p.proc.err
}

// Delete deletes the pod gracefully, start to end.
func (p *Pod) Delete(ctx context.Context) error {
	if err := p.BeginDelete(ctx); err != nil {
		return err
	}
	return p.FinishDelete(ctx)
}

// Kill kills the process with SIGKILL and waits until it is gone. The Pod object is left as
// it was: call SetReady(ctx, false) to do what a kubelet does next.
func (p *Pod) Kill() {
	p.proc.signal(syscall.SIGKILL)
	<-p.proc.done
}

// Stop ends the process if it still runs; tests call it in cleanup. It first marks the Pod
// not ready, as a kubelet does when a container stops, so that the example's drain at
// SIGTERM ends about a second later, once the other pods have dropped it, instead of at its
// bound (15 s); then it sends SIGTERM, and SIGKILL after 5 s. Marking is best effort: the Pod
// may be gone, or the API server down.
func (p *Pod) Stop() {
	if p.proc.exited() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	p.patchStatus(ctx, false)
	p.Thaw() // a frozen process would not see SIGTERM
	p.proc.stop(5 * time.Second)
}

// Freeze stops the pod's process with SIGSTOP, as a node that hangs or drops off the
// network looks to its peers: its connections stay open and nothing answers. The Pod
// object and its endpoint stay as they were, ready. Thaw resumes it.
func (p *Pod) Freeze() { p.proc.signal(syscall.SIGSTOP) }

// Thaw resumes a frozen pod's process with SIGCONT.
func (p *Pod) Thaw() { p.proc.signal(syscall.SIGCONT) }

// Exited is closed when the pod's process has exited.
func (p *Pod) Exited() <-chan struct{} { return p.proc.done }

// ExitError is why the process exited; valid once Exited is closed.
func (p *Pod) ExitError() error { return p.proc.err }

// Log returns the last n lines the pod's process wrote.
func (p *Pod) Log(n int) string { return p.proc.tail(n) }

// longPoll is the client of /testonly/rings?since=N, which the example holds for up to 30 s.
var longPoll = &http.Client{Timeout: time.Minute}

// followRings records every ring the pod publishes, from its test-only /testonly/rings?since=N
// (which answers as soon as there is a ring after the first N), until the process exits.
func (p *Pod) followRings() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-p.proc.done
		cancel()
	}()
	for ctx.Err() == nil {
		p.mu.Lock()
		seen := len(p.rings)
		p.mu.Unlock()
		var answer struct{ Rings [][]string }
		if err := p.getJSONWith(ctx, longPoll, "/testonly/rings?since="+strconv.Itoa(seen), &answer); err != nil {
			// The pod is shutting down or busy; ask again until it has exited.
			select {
			case <-ctx.Done():
			case <-time.After(20 * time.Millisecond):
			}
			continue
		}
		p.addRings(time.Now(), answer.Rings)
	}
}

// addRings records rings, each sorted, as reported at now, and wakes WaitRing if there are any.
func (p *Pod) addRings(now time.Time, rings [][]string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, peers := range rings {
		peers = slices.Clone(peers)
		slices.Sort(peers)
		p.rings = append(p.rings, RingChange{At: now, Peers: peers})
	}
	if len(rings) > 0 {
		close(p.changed)
		p.changed = make(chan struct{})
	}
}

// Ring returns the peers the pod's ring holds now, sorted, as the pod last reported it.
func (p *Pod) Ring() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.rings) == 0 {
		return nil
	}
	return p.rings[len(p.rings)-1].Peers
}

// RingChanges returns every ring the pod has reported so far.
func (p *Pod) RingChanges() []RingChange {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.rings)
}

// LastRingAt is when the pod's latest ring was reported; zero if none was.
func (p *Pod) LastRingAt() time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.rings) == 0 {
		return time.Time{}
	}
	return p.rings[len(p.rings)-1].At
}

// WaitRing waits until the pod's ring holds exactly want (any order) and returns when the
// change that made it so arrived.
func (p *Pod) WaitRing(ctx context.Context, want ...string) (time.Time, error) {
	want = slices.Clone(want)
	slices.Sort(want)
	for {
		p.mu.Lock()
		n := len(p.rings)
		var last RingChange
		if n > 0 {
			last = p.rings[n-1]
		}
		changed := p.changed
		p.mu.Unlock()
		if n > 0 && slices.Equal(last.Peers, want) {
			return last.At, nil
		}
		select {
		case <-changed:
		case <-p.proc.done:
			return time.Time{}, fmt.Errorf("pod %s exited (%v) waiting for ring %v; log ends:\n%s", p.Name, p.proc.err, want, p.Log(15))
		case <-ctx.Done():
			return time.Time{}, fmt.Errorf("pod %s: ring is %v, want %v: %w", p.Name, last.Peers, want, ctx.Err())
		}
	}
}

// GetResult is the example's answer to /get.
type GetResult struct {
	Key      string `json:"key"`
	Value    string `json:"value"`
	LoadedBy string `json:"loadedBy"`
	ServedBy string `json:"servedBy"`
	// Owner is the owner's peer id (ip:port) in the serving pod's ring; "" with
	// TESTONLY_TRANSPORT=httppool, whose pool cannot tell.
	Owner string `json:"owner"`
}

var httpClient = &http.Client{Timeout: 30 * time.Second}

// Get asks the pod for key through the example's HTTP API.
func (p *Pod) Get(ctx context.Context, key string) (GetResult, error) {
	return p.GetWithTimeout(ctx, key, 0)
}

// GetWithTimeout is Get with /get's timeout parameter: the pod's Get of the key has that
// deadline, as a request handler's would (none if timeout is 0).
func (p *Pod) GetWithTimeout(ctx context.Context, key string, timeout time.Duration) (GetResult, error) {
	query := url.Values{"key": {key}}
	if timeout != 0 {
		query.Set("timeout", timeout.String())
	}
	var r GetResult
	err := p.getJSON(ctx, "/get?"+query.Encode(), &r)
	return r, err
}

// Owner asks the pod which peer owns key in its ring now (ip:port), without loading the key;
// "" with TESTONLY_TRANSPORT=httppool, whose pool cannot tell.
func (p *Pod) Owner(ctx context.Context, key string) (string, error) {
	var r struct{ Owner string }
	err := p.getJSON(ctx, "/owner?key="+url.QueryEscape(key), &r)
	return r.Owner, err
}

func (p *Pod) getJSON(ctx context.Context, path string, into any) error {
	return p.getJSONWith(ctx, httpClient, path, into)
}

func (p *Pod) getJSONWith(ctx context.Context, client *http.Client, path string, into any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+p.HTTPAddr()+path, nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("pod %s: %w", p.Name, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("pod %s: GET %s: %s: %s", p.Name, path, resp.Status, body)
	}
	return json.Unmarshal(body, into)
}
