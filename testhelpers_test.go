package k8s

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"io"
	"math/big"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang/groupcache"
	"github.com/golang/groupcache/groupcachepb"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
)

// --- groups and requests ---

// groupSeq makes group names unique: groupcache's registry is global and panics on a
// duplicate name, also with -count=2.
var groupSeq atomic.Int64

// newTestGroup creates a group that caches nothing, so every Get reaches getter.
func newTestGroup(t *testing.T, getter groupcache.GetterFunc) *groupcache.Group {
	t.Helper()
	name := fmt.Sprintf("%s#%d", t.Name(), groupSeq.Add(1))
	return groupcache.NewGroup(name, 0, getter)
}

// getRequest builds the request groupcache sends for key of group.
func getRequest(group, key string) *groupcachepb.GetRequest {
	return &groupcachepb.GetRequest{Group: &group, Key: &key}
}

// --- in-process client and server ---

// testServer is a server started on 127.0.0.1:0 and stopped when the test ends.
type testServer struct {
	*grpcServer
	stats *counters
	guard *loopGuard
}

// startTestServer starts a server configured by opts on listen (127.0.0.1:0 if empty).
func startTestServer(t *testing.T, listen string, opts ...Option) *testServer {
	t.Helper()
	if listen == "" {
		listen = "127.0.0.1:0"
	}
	cfg := testConfig(opts...)
	svc := &getService{stats: &counters{}, guard: &loopGuard{}, logger: cfg.logger}
	srv, err := startServer(listen, cfg, svc)
	if err != nil {
		t.Fatalf("startServer(%s): %v", listen, err)
	}
	t.Cleanup(func() { srv.stop(time.Second) })
	return &testServer{grpcServer: srv, stats: svc.stats, guard: svc.guard}
}

// testClient is a peer client closed when the test ends.
type testClient struct {
	*peerClient
	stats *counters
}

// newTestClient creates the client of the peer at addr, configured by opts.
func newTestClient(t *testing.T, addr string, opts ...Option) *testClient {
	t.Helper()
	cfg := testConfig(opts...)
	dialOpts, err := cfg.clientDialOptions()
	if err != nil {
		t.Fatalf("clientDialOptions: %v", err)
	}
	stats := &counters{}
	client, err := newPeerClient(addr, dialOpts, cfg, stats, &loopGuard{})
	if err != nil {
		t.Fatalf("newPeerClient(%s): %v", addr, err)
	}
	t.Cleanup(func() { _ = client.Close() })
	return &testClient{peerClient: client, stats: stats}
}

// testPair is a client connected to a server, both configured by opts. It also checks
// that the test leaves no goroutine behind.
type testPair struct {
	server *testServer
	client *testClient
}

// newTestPair starts a server and its client, configured by the same opts.
func newTestPair(t *testing.T, opts ...Option) testPair {
	t.Helper()
	checkNoGoroutineLeaks(t)
	server := startTestServer(t, "", opts...)
	return testPair{server: server, client: newTestClient(t, server.addr(), opts...)}
}

// testConfig is the default config with opts applied.
func testConfig(opts ...Option) *config {
	cfg := defaultConfig()
	for _, opt := range opts {
		opt(cfg)
	}
	return cfg
}

// serverSide sets creds as the server credentials of a config used only to serve.
func serverSide(creds credentials.TransportCredentials) Option {
	return WithTransportCredentials(creds, insecure.NewCredentials())
}

// clientSide sets creds as the client credentials of a config used only to dial.
func clientSide(creds credentials.TransportCredentials) Option {
	return WithTransportCredentials(insecure.NewCredentials(), creds)
}

// --- goroutine leaks ---

// checkNoGoroutineLeaks fails the test if goroutines that did not exist when it was
// called still run after the test's other cleanups (registered later, so run earlier).
func checkNoGoroutineLeaks(t *testing.T) {
	t.Helper()
	before := goroutineStacks()
	t.Cleanup(func() {
		if leaked := leakedGoroutines(before, 5*time.Second); len(leaked) > 0 {
			t.Errorf("%d goroutines left behind:\n\n%s", len(leaked), strings.Join(leaked, "\n\n"))
		}
	})
}

// leakedGoroutines returns the stacks of goroutines that are not in before, retrying
// until none are left or wait has passed: stopped goroutines take a moment to exit.
func leakedGoroutines(before map[int]string, wait time.Duration) []string {
	deadline := time.Now().Add(wait)
	for {
		var leaked []string
		for id, stack := range goroutineStacks() {
			if _, ok := before[id]; !ok {
				leaked = append(leaked, stack)
			}
		}
		if len(leaked) == 0 || time.Now().After(deadline) {
			slices.Sort(leaked)
			return leaked
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// goroutineStacks returns the stack of every goroutine by goroutine id.
func goroutineStacks() map[int]string {
	buf := make([]byte, 1<<16)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	stacks := make(map[int]string)
	for _, stack := range strings.Split(string(buf), "\n\n") {
		// Each stack starts with "goroutine 42 [state]:".
		fields := strings.Fields(stack)
		if len(fields) < 2 || fields[0] != "goroutine" {
			continue
		}
		if id, err := strconv.Atoi(fields[1]); err == nil {
			stacks[id] = stack
		}
	}
	return stacks
}

// --- certificates ---

// testPKI is a CA with a server and a client certificate, all in memory.
type testPKI struct {
	roots  *x509.CertPool
	server tls.Certificate // for testServerName
	client tls.Certificate
}

// testServerName is the DNS name in the server certificate. Clients dial 127.0.0.1,
// like pods dial IPs, so they must set it as tls.Config.ServerName.
const testServerName = "peers.groupcache.test"

// newTestPKI creates a fresh CA and issues the server and client certificates.
func newTestPKI(t *testing.T) *testPKI {
	t.Helper()
	caKey := newKey(t)
	caTmpl := certTemplate("groupcache test CA")
	caTmpl.IsCA = true
	caTmpl.BasicConstraintsValid = true
	caTmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatalf("creating the CA certificate: %v", err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatalf("parsing the CA certificate: %v", err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca)

	serverTmpl := certTemplate("groupcache test server")
	serverTmpl.DNSNames = []string{testServerName}
	serverTmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	clientTmpl := certTemplate("groupcache test client")
	clientTmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	return &testPKI{
		roots:  roots,
		server: issueCert(t, ca, caKey, serverTmpl),
		client: issueCert(t, ca, caKey, clientTmpl),
	}
}

// serverTLS is the server's TLS config; mutual also requires a client certificate.
func (p *testPKI) serverTLS(mutual bool) *tls.Config {
	cfg := &tls.Config{Certificates: []tls.Certificate{p.server}, MinVersion: tls.VersionTLS12}
	if mutual {
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
		cfg.ClientCAs = p.roots
	}
	return cfg
}

// clientTLS is a client's TLS config trusting the CA and verifying serverName;
// withCert also presents the client certificate.
func (p *testPKI) clientTLS(serverName string, withCert bool) *tls.Config {
	cfg := &tls.Config{RootCAs: p.roots, ServerName: serverName, MinVersion: tls.VersionTLS12}
	if withCert {
		cfg.Certificates = []tls.Certificate{p.client}
	}
	return cfg
}

// newKey generates a P-256 key.
func newKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("generating a key: %v", err)
	}
	return key
}

// certSerial numbers the test certificates.
var certSerial atomic.Int64

// certTemplate is a certificate valid for an hour around now.
func certTemplate(commonName string) *x509.Certificate {
	now := time.Now()
	return &x509.Certificate{
		SerialNumber: big.NewInt(certSerial.Add(1)),
		Subject:      pkix.Name{CommonName: commonName},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
	}
}

// issueCert signs tmpl with the CA and returns it with a fresh key.
func issueCert(t *testing.T, ca *x509.Certificate, caKey *ecdsa.PrivateKey, tmpl *x509.Certificate) tls.Certificate {
	t.Helper()
	key := newKey(t)
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatalf("issuing %q: %v", tmpl.Subject.CommonName, err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// --- child processes ---

// childProcess is this test binary re-executed to run one test as another process.
// It talks line by line: its stdout lines arrive on lines, and the parent writes to
// stdin. Closing stdin tells it to exit.
type childProcess struct {
	name    string
	cmd     *exec.Cmd
	stdin   io.WriteCloser
	lines   chan string   // closed when the child has exited
	exited  chan struct{} // closed when the child has exited; then waitErr and stderr are set
	waitErr error
	stderr  bytes.Buffer
}

// childEnv holds the name of the child a process is; empty in the parent.
const childEnv = "GROUPCACHE_K8S_TEST_CHILD"

// startChild re-executes the test binary to run only test, with childEnv=name. When
// the test ends, the child is asked to exit, killed if it does not, and waited for;
// a child that fails is reported with its stderr.
func startChild(t *testing.T, test, name string) *childProcess {
	t.Helper()
	c := &childProcess{name: name, lines: make(chan string, 64), exited: make(chan struct{})}
	c.cmd = exec.Command(os.Args[0], "-test.run=^"+test+"$", "-test.count=1")
	c.cmd.Env = append(os.Environ(), childEnv+"="+name)
	c.cmd.Stderr = &c.stderr
	stdout, stdoutW := io.Pipe()
	c.cmd.Stdout = stdoutW
	stdin, err := c.cmd.StdinPipe()
	if err != nil {
		t.Fatalf("child %s: %v", name, err)
	}
	c.stdin = stdin
	if err := c.cmd.Start(); err != nil {
		t.Fatalf("starting child %s: %v", name, err)
	}
	go c.readLines(stdout)
	go func() {
		c.waitErr = c.cmd.Wait() // returns once stdout and stderr are copied
		_ = stdoutW.Close()
		close(c.exited)
	}()
	t.Cleanup(func() { c.stop(t) })
	return c
}

// readLines forwards the child's stdout lines until it closes.
func (c *childProcess) readLines(stdout io.Reader) {
	defer close(c.lines)
	scanner := bufio.NewScanner(stdout)
	for scanner.Scan() {
		select {
		case c.lines <- scanner.Text():
		default: // nobody reads any more; drop the line rather than block the child
		}
	}
}

// expect returns the rest of the first stdout line that starts with prefix, skipping
// other output; it fails the test if the child says nothing of the kind in time.
func (c *childProcess) expect(t *testing.T, prefix string) string {
	t.Helper()
	timeout := time.NewTimer(20 * time.Second)
	defer timeout.Stop()
	for {
		select {
		case line, ok := <-c.lines:
			if !ok {
				<-c.exited
				t.Fatalf("child %s exited (%v) before printing %q; stderr:\n%s", c.name, c.waitErr, prefix, c.stderr.String())
			}
			if rest, found := strings.CutPrefix(line, prefix); found {
				return rest
			}
		case <-timeout.C:
			t.Fatalf("child %s did not print %q in time", c.name, prefix)
		}
	}
}

// send writes one line to the child's stdin.
func (c *childProcess) send(t *testing.T, line string) {
	t.Helper()
	if _, err := io.WriteString(c.stdin, line+"\n"); err != nil {
		t.Fatalf("writing to child %s: %v", c.name, err)
	}
}

// stop closes the child's stdin, which asks it to exit, and waits for it; after a
// grace period it kills the child. A child that fails or has to be killed fails t.
func (c *childProcess) stop(t *testing.T) {
	_ = c.stdin.Close()
	timer := time.NewTimer(10 * time.Second)
	defer timer.Stop()
	select {
	case <-c.exited:
		if c.waitErr != nil {
			t.Errorf("child %s failed: %v; stderr:\n%s", c.name, c.waitErr, c.stderr.String())
		}
	case <-timer.C:
		_ = c.cmd.Process.Kill()
		<-c.exited
		t.Errorf("child %s did not exit after its stdin was closed; killed it; stderr:\n%s", c.name, c.stderr.String())
	}
}

// waitForEOF blocks until stdin is closed (in a child: the parent asks it to exit).
func waitForEOF(stdin io.Reader) {
	_, _ = io.Copy(io.Discard, stdin)
}

// requestContext is the context of one test request.
func requestContext(t *testing.T, timeout time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	t.Cleanup(cancel)
	return ctx
}
