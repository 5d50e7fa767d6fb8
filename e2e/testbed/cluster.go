package testbed

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// Addresses inside the namespace. The namespace is private, so fixed ports cannot clash.
const (
	// APIServerAddr is where kube-apiserver listens.
	APIServerAddr = "127.0.0.1:6443"
	// EtcdURL is etcd's client URL.
	EtcdURL  = "http://127.0.0.1:2379"
	etcdPeer = "http://127.0.0.1:2380"
	// NodeName is the one Node every pod runs on.
	NodeName = "node-1"
)

// Cluster is a running control plane: etcd, kube-apiserver and the EndpointSlice controller.
type Cluster struct {
	// Dir holds every file the cluster writes; Stop removes it.
	Dir string
	// Admin is a clientset with cluster-admin rights.
	Admin kubernetes.Interface
	// AdminConfig is Admin's configuration.
	AdminConfig *rest.Config
	// PeerCA signs certificates for pods that talk mTLS to each other.
	PeerCA *CA

	bins       Binaries
	opts       StartOptions
	progress   io.Writer
	adminToken string
	serverCA   *CA

	mu        sync.Mutex
	etcd      *process
	apiserver *process
	kcm       *process
	nextIP    int
	stopOnce  sync.Once
}

// StartOptions change how StartWith runs the control plane.
type StartOptions struct {
	// MaxEndpointsPerSlice is the EndpointSlice controller's --max-endpoints-per-slice; zero
	// leaves its default, 100. A small value splits a Service of a few pods into several
	// slices, as 100 does at more than 100 pods.
	MaxEndpointsPerSlice int
	// KeepFiles leaves the cluster's directory (every process's log) in place at Stop, for
	// reading after a run; Stop says where it is.
	KeepFiles bool
}

// Start runs etcd, kube-apiserver and kube-controller-manager inside the current network
// namespace and waits until the API server is ready and a Node exists. Call Stop when done,
// also after a failure.
func Start(ctx context.Context, bins Binaries, progress io.Writer) (c *Cluster, err error) {
	return StartWith(ctx, bins, progress, StartOptions{})
}

// StartWith is Start with options.
func StartWith(ctx context.Context, bins Binaries, progress io.Writer, opts StartOptions) (c *Cluster, err error) {
	if !InNetNS() {
		return nil, fmt.Errorf("testbed: Start runs only inside the private network namespace (RunInNetNS)")
	}
	dir, err := os.MkdirTemp("", "groupcache-k8s-e2e-")
	if err != nil {
		return nil, err
	}
	c = &Cluster{Dir: dir, bins: bins, progress: progress, opts: opts, nextIP: firstPodIP}
	defer func() {
		if err != nil {
			c.Stop()
		}
	}()
	token := make([]byte, 16)
	rand.Read(token)
	c.adminToken = hex.EncodeToString(token)
	if err := c.writeFiles(); err != nil {
		return nil, err
	}

	start := time.Now()
	if err := c.startEtcd(ctx); err != nil {
		return nil, err
	}
	if err := c.StartAPIServer(ctx); err != nil {
		return nil, err
	}
	c.AdminConfig = c.RESTConfig(APIServerAddr, c.adminToken)
	if c.Admin, err = kubernetes.NewForConfig(c.AdminConfig); err != nil {
		return nil, err
	}
	if err := c.writeKubeconfig(c.AdminKubeconfig(), APIServerAddr, c.adminToken); err != nil {
		return nil, err
	}
	if err := c.startControllerManager(); err != nil {
		return nil, err
	}
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: NodeName}}
	if _, err := c.Admin.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{}); err != nil {
		return nil, fmt.Errorf("create node: %w", err)
	}
	fmt.Fprintf(progress, "testbed: control plane ready in %s (etcd, kube-apiserver, EndpointSlice controller; files in %s)\n",
		since(start), dir)
	return c, nil
}

func (c *Cluster) path(name string) string { return filepath.Join(c.Dir, name) }

// AdminKubeconfig is the path of a kubeconfig with cluster-admin rights.
func (c *Cluster) AdminKubeconfig() string { return c.path("admin.kubeconfig") }

func (c *Cluster) writeFiles() error {
	var err error
	if c.serverCA, err = NewCA(c.Dir, "apiserver"); err != nil {
		return err
	}
	if _, _, err = c.serverCA.Issue(c.Dir, "apiserver-serving", net.IPv4(127, 0, 0, 1), net.IPv4(192, 0, 2, 1)); err != nil {
		return err
	}
	if c.PeerCA, err = NewCA(c.Dir, "peers"); err != nil {
		return err
	}
	if err := writeServiceAccountKeys(c.path("sa.key"), c.path("sa.pub")); err != nil {
		return err
	}
	tokens := fmt.Sprintf("%s,admin,admin,\"system:masters\"\n", c.adminToken)
	return os.WriteFile(c.path("tokens.csv"), []byte(tokens), 0o600)
}

func (c *Cluster) startEtcd(ctx context.Context) error {
	p, err := startProcess("etcd", c.path("etcd.log"), nil, nil, c.bins.Etcd,
		"--name=default", "--data-dir="+c.path("etcd-data"),
		"--listen-client-urls="+EtcdURL, "--advertise-client-urls="+EtcdURL,
		"--listen-peer-urls="+etcdPeer, "--initial-advertise-peer-urls="+etcdPeer,
		"--initial-cluster=default="+etcdPeer, "--log-level=warn")
	if err != nil {
		return err
	}
	c.etcd = p
	return waitHTTP(ctx, p, http.DefaultClient, EtcdURL+"/health", "")
}

// StartAPIServer starts kube-apiserver and waits until /readyz answers; Start calls it, and a
// test calls it again after KillAPIServer. The watch cache is on, as in every real cluster,
// and Services may be dual-stack.
func (c *Cluster) StartAPIServer(ctx context.Context) error {
	host, port, _ := net.SplitHostPort(APIServerAddr)
	p, err := startProcess("kube-apiserver", c.path("apiserver.log"), nil, nil, c.bins.APIServer,
		"--etcd-servers="+EtcdURL, "--bind-address="+host, "--secure-port="+port,
		"--advertise-address=192.0.2.1",
		"--tls-cert-file="+c.path("apiserver-serving.crt"), "--tls-private-key-file="+c.path("apiserver-serving.key"),
		"--token-auth-file="+c.path("tokens.csv"), "--authorization-mode=RBAC",
		"--service-account-issuer=https://kubernetes.default.svc",
		"--service-account-key-file="+c.path("sa.pub"), "--service-account-signing-key-file="+c.path("sa.key"),
		"--endpoint-reconciler-type=none", "--service-cluster-ip-range=10.96.0.0/16,fd00:10:96::/108")
	if err != nil {
		return err
	}
	c.mu.Lock()
	c.apiserver = p
	c.mu.Unlock()
	client, err := c.httpClient()
	if err != nil {
		return err
	}
	return waitHTTP(ctx, p, client, "https://"+APIServerAddr+"/readyz", c.adminToken)
}

// KillAPIServer kills kube-apiserver with SIGKILL and waits until it is gone.
func (c *Cluster) KillAPIServer() {
	c.mu.Lock()
	p := c.apiserver
	c.mu.Unlock()
	p.signal(syscall.SIGKILL)
	<-p.done
}

func (c *Cluster) startControllerManager() error {
	args := []string{"--kubeconfig=" + c.AdminKubeconfig(), "--controllers=endpointslice-controller",
		"--leader-elect=false", "--secure-port=0", "--use-service-account-credentials=false"}
	if n := c.opts.MaxEndpointsPerSlice; n > 0 {
		args = append(args, "--max-endpoints-per-slice="+strconv.Itoa(n))
	}
	p, err := startProcess("kube-controller-manager", c.path("controller-manager.log"), nil, nil, c.bins.ControllerManager, args...)
	if err != nil {
		return err
	}
	c.kcm = p
	return nil
}

// RestartControllerManager stops kube-controller-manager and starts it again. A test that kills
// the API server calls it after StartAPIServer, to do what happens in a real cluster: there the
// controller manager runs with leader election, loses its lease about 10 s into an API server
// outage, exits and is restarted. The test bed runs it without leader election, so it would
// instead keep running on informers that catch up only after their own backoff: measured here,
// the EndpointSlice controller then took 13-61 s after an API server restart to write a new
// endpoint, retried Services with "EndpointSlice informer cache is out of date" for up to a
// minute more, and made the next test's Service wait 60-100 s for its first endpoints.
func (c *Cluster) RestartControllerManager() error {
	c.mu.Lock()
	old := c.kcm
	c.mu.Unlock()
	if old != nil {
		old.stop(10 * time.Second)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.startControllerManager()
}

// Stop stops every process the cluster started, in order, and removes its files.
func (c *Cluster) Stop() {
	c.stopOnce.Do(func() {
		c.mu.Lock()
		procs := []*process{c.kcm, c.apiserver, c.etcd}
		c.mu.Unlock()
		for _, p := range procs {
			if p != nil {
				p.stop(10 * time.Second)
			}
		}
		if c.opts.KeepFiles {
			fmt.Fprintf(c.progress, "testbed: the cluster's files (every process's log) are kept in %s\n", c.Dir)
			return
		}
		os.RemoveAll(c.Dir)
	})
}

// ServerCAFile is the CA certificate that signed the API server's serving certificate.
func (c *Cluster) ServerCAFile() string { return c.serverCA.CertFile }

// RESTConfig returns a client configuration that reaches the API server at addr (its own
// address or a proxy in front of it) with a bearer token.
func (c *Cluster) RESTConfig(addr, token string) *rest.Config {
	return &rest.Config{
		Host:            "https://" + addr,
		BearerToken:     token,
		TLSClientConfig: rest.TLSClientConfig{CAFile: c.ServerCAFile()},
		QPS:             1000,
		Burst:           1000,
	}
}

// writeKubeconfig writes a kubeconfig for addr and token to path.
func (c *Cluster) writeKubeconfig(path, addr, token string) error {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["testbed"] = &clientcmdapi.Cluster{Server: "https://" + addr, CertificateAuthority: c.ServerCAFile()}
	cfg.AuthInfos["user"] = &clientcmdapi.AuthInfo{Token: token}
	cfg.Contexts["testbed"] = &clientcmdapi.Context{Cluster: "testbed", AuthInfo: "user"}
	cfg.CurrentContext = "testbed"
	return clientcmd.WriteToFile(*cfg, path)
}

func (c *Cluster) httpClient() (*http.Client, error) {
	transport, err := rest.TransportFor(&rest.Config{TLSClientConfig: rest.TLSClientConfig{CAFile: c.ServerCAFile()}})
	if err != nil {
		return nil, err
	}
	return &http.Client{Transport: transport, Timeout: 5 * time.Second}, nil
}

// CompactEtcd compacts etcd's history up to its current revision, as the API server does
// every five minutes, and returns that revision.
func (c *Cluster) CompactEtcd(ctx context.Context) (int64, error) {
	var status struct {
		Header struct {
			Revision int64 `json:"revision,string"`
		} `json:"header"`
	}
	if err := postJSON(ctx, EtcdURL+"/v3/kv/range", `{"key":"AA=="}`, &status); err != nil {
		return 0, err
	}
	body := fmt.Sprintf(`{"revision":"%d","physical":true}`, status.Header.Revision)
	return status.Header.Revision, postJSON(ctx, EtcdURL+"/v3/kv/compaction", body, nil)
}

// waitHTTP waits until url answers 200, or the process exits, or ctx ends.
func waitHTTP(ctx context.Context, p *process, client *http.Client, url, token string) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		if resp, err := client.Do(req); err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-p.done:
			return fmt.Errorf("%s exited before it was ready (%v); its log ends:\n%s", p.name, p.err, p.tail(20))
		case <-ctx.Done():
			return fmt.Errorf("%s not ready at %s: %w; its log ends:\n%s", p.name, url, ctx.Err(), p.tail(20))
		case <-tick.C:
		}
	}
}

func postJSON(ctx context.Context, url, body string, into any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewBufferString(body))
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("POST %s: %s: %s", url, resp.Status, data)
	}
	if into == nil {
		return nil
	}
	return json.Unmarshal(data, into)
}
