package watchers

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/groupcache-k8s/k8s/e2e/testbed"
	"k8s.io/client-go/rest"
)

// apiProxy is an HTTPS reverse proxy in front of the API server for one client. It counts
// the client's LIST and WATCH requests on EndpointSlices and can end every watch in flight
// cleanly, as the server does when a watch's timeoutSeconds runs out, or hold new watches
// back, as a partition would.
type apiProxy struct {
	srv      *httptest.Server
	upstream http.RoundTripper
	config   *rest.Config // a client configuration that goes through the proxy

	mu      sync.Mutex
	lists   int
	watches int
	end     chan struct{} // closed to end every watch in flight
	hold    chan struct{} // when not nil, new watches wait until it is closed
	heldRV  string        // resourceVersion of the last watch held back
	held    chan struct{} // closed and replaced when a watch is held back
	started chan struct{} // closed and replaced when a watch starts streaming
	startAt time.Time     // when the current watch started streaming
}

func newAPIProxy(dir string) (*apiProxy, error) {
	ca, err := testbed.NewCA(dir, "proxy")
	if err != nil {
		return nil, err
	}
	certFile, keyFile, err := ca.Issue(dir, "proxy", net.IPv4(127, 0, 0, 1))
	if err != nil {
		return nil, err
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, err
	}
	serverCA, err := os.ReadFile(cluster.ServerCAFile())
	if err != nil {
		return nil, err
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(serverCA)
	p := &apiProxy{
		upstream: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}, ForceAttemptHTTP2: true},
		end:      make(chan struct{}),
		started:  make(chan struct{}),
		held:     make(chan struct{}),
	}
	p.srv = httptest.NewUnstartedServer(http.HandlerFunc(p.serve))
	p.srv.EnableHTTP2 = true
	p.srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	p.srv.StartTLS()
	p.config = rest.CopyConfig(cluster.AdminConfig)
	p.config.Host = p.srv.URL
	p.config.TLSClientConfig = rest.TLSClientConfig{CAFile: ca.CertFile}
	return p, nil
}

func (p *apiProxy) close() {
	p.mu.Lock()
	close(p.end)
	if p.hold != nil {
		close(p.hold)
		p.hold = nil
	}
	p.mu.Unlock()
	p.srv.Close()
}

func (p *apiProxy) counts() (lists, watches int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.lists, p.watches
}

// endWatches ends every watch in flight after its current event, as a server timeout does.
func (p *apiProxy) endWatches() {
	p.mu.Lock()
	defer p.mu.Unlock()
	close(p.end)
	p.end = make(chan struct{})
}

// holdWatches makes new watches wait until release.
func (p *apiProxy) holdWatches() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.hold = make(chan struct{})
}

func (p *apiProxy) release() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.hold != nil {
		close(p.hold)
		p.hold = nil
	}
}

// nextHeld returns a channel closed when the next watch is held back.
func (p *apiProxy) nextHeld() <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.held
}

// watchAge is how long the current watch has streamed, and the resourceVersion of the last
// watch held back.
func (p *apiProxy) state() (age time.Duration, heldRV string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return time.Since(p.startAt), p.heldRV
}

// nextWatch returns a channel closed when the next watch starts streaming.
func (p *apiProxy) nextWatch() <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.started
}

func (p *apiProxy) serve(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	watching := q.Get("watch") == "true" || q.Get("watch") == "1"
	p.mu.Lock()
	if strings.HasSuffix(r.URL.Path, "/endpointslices") && r.Method == http.MethodGet {
		if watching {
			p.watches++
		} else {
			p.lists++
		}
	}
	hold, end := p.hold, p.end
	if watching && hold != nil {
		p.heldRV = q.Get("resourceVersion")
		close(p.held)
		p.held = make(chan struct{})
	}
	p.mu.Unlock()
	if watching && hold != nil {
		select {
		case <-hold:
		case <-r.Context().Done():
			return
		}
		p.mu.Lock()
		end = p.end
		p.mu.Unlock()
	}

	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	out := r.Clone(ctx)
	out.RequestURI = ""
	out.URL.Scheme, out.URL.Host = "https", testbed.APIServerAddr
	out.Host = testbed.APIServerAddr
	// Let the upstream transport ask for gzip and undo it, so that the proxy sees whole
	// frames (it ends a watch only between two) and the client gets them uncompressed.
	out.Header.Del("Accept-Encoding")
	resp, err := p.upstream.RoundTrip(out)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	for k, v := range resp.Header {
		w.Header()[k] = v
	}
	w.WriteHeader(resp.StatusCode)
	if !watching {
		bufio.NewReader(resp.Body).WriteTo(w)
		return
	}
	w.(http.Flusher).Flush()
	p.mu.Lock()
	close(p.started)
	p.started, p.startAt = make(chan struct{}), time.Now()
	p.mu.Unlock()
	go func() {
		select {
		case <-end:
			cancel() // ends the upstream watch; whole events already sent stay sent
		case <-ctx.Done():
		}
	}()
	frames := bufio.NewReader(resp.Body)
	readFrame := readLine // JSON: one event per line
	if strings.Contains(resp.Header.Get("Content-Type"), "protobuf") {
		readFrame = readLengthPrefixed // protobuf: a 4-byte length, then the event
	}
	for {
		frame, err := readFrame(frames)
		if err != nil {
			return // a clean end for the client: no partial event is ever written
		}
		w.Write(frame)
		w.(http.Flusher).Flush()
	}
}

func readLine(r *bufio.Reader) ([]byte, error) { return r.ReadBytes('\n') }

func readLengthPrefixed(r *bufio.Reader) ([]byte, error) {
	frame := make([]byte, 4)
	if _, err := io.ReadFull(r, frame); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(frame)
	frame = append(frame, make([]byte, n)...)
	_, err := io.ReadFull(r, frame[4:])
	return frame, err
}
