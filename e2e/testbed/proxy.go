package testbed

import (
	"net"
	"sync"
)

// Proxy is a TCP proxy a test owns between one pod and the API server. Cut, Freeze and Heal
// change what it does to that pod's traffic.
type Proxy struct {
	ln     net.Listener
	target string

	mu     sync.Mutex
	mode   proxyMode
	healed chan struct{} // closed when the mode returns to forwarding
	conns  map[net.Conn]struct{}
	// stalled connections pass nothing until Heal or until they are closed.
	stalled map[net.Conn]bool
	unstall chan struct{} // closed by Heal, which ends every stall
	wg      sync.WaitGroup
}

type proxyMode int

const (
	forwarding proxyMode = iota
	cut                  // existing connections closed, new ones closed at once
	frozen               // connections stay open, no byte passes either way
)

// NewProxy listens on a free port of 127.0.0.1 and forwards every connection to target.
func NewProxy(target string) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &Proxy{ln: ln, target: target, healed: make(chan struct{}), conns: map[net.Conn]struct{}{}, stalled: map[net.Conn]bool{}}
	close(p.healed)
	p.wg.Add(1)
	go p.accept()
	return p, nil
}

// Addr is the address to point a kubeconfig at.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Cut closes every connection and refuses new ones (they are closed as soon as they are
// accepted), as a network partition with resets would.
func (p *Proxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.setModeLocked(cut)
	for c := range p.conns {
		c.Close()
	}
}

// Freeze stops every byte in both directions but keeps connections open, and holds new ones
// the same way: a watch through it stays open and silent.
func (p *Proxy) Freeze() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.setModeLocked(frozen)
}

// Stall stops every byte on the connections open now, without closing them; connections
// made later pass. It is a half-dead connection: only the client's own health checks or
// timeouts get it out.
func (p *Proxy) Stall() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.unstall == nil {
		p.unstall = make(chan struct{})
	}
	for c := range p.conns {
		p.stalled[c] = true
	}
}

// Heal forwards again; bytes held by Freeze flow on.
func (p *Proxy) Heal() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.setModeLocked(forwarding)
}

func (p *Proxy) setModeLocked(m proxyMode) {
	if m == forwarding {
		clear(p.stalled)
		if p.unstall != nil {
			close(p.unstall)
			p.unstall = nil
		}
	}
	if p.mode == forwarding && m != forwarding {
		p.healed = make(chan struct{})
	}
	if p.mode != forwarding && m == forwarding {
		close(p.healed)
	}
	p.mode = m
}

// Close stops the proxy and closes every connection.
func (p *Proxy) Close() {
	p.ln.Close()
	p.mu.Lock()
	for c := range p.conns {
		c.Close()
	}
	p.setModeLocked(forwarding)
	p.mu.Unlock()
	p.wg.Wait()
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		client, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		if p.mode == cut {
			p.mu.Unlock()
			client.Close()
			continue
		}
		p.mu.Unlock()
		server, err := net.Dial("tcp", p.target)
		if err != nil {
			client.Close()
			continue
		}
		p.mu.Lock()
		p.conns[client], p.conns[server] = struct{}{}, struct{}{}
		p.mu.Unlock()
		p.wg.Add(2)
		go p.pipe(client, server)
		go p.pipe(server, client)
	}
}

// pipe copies from src to dst, holding each chunk while the proxy is frozen or src or dst
// is stalled.
func (p *Proxy) pipe(dst, src net.Conn) {
	defer p.wg.Done()
	defer func() {
		dst.Close()
		src.Close()
		p.mu.Lock()
		delete(p.conns, dst)
		delete(p.conns, src)
		delete(p.stalled, dst)
		delete(p.stalled, src)
		p.mu.Unlock()
	}()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if !p.waitPass(src, dst) {
				return
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil { // EOF or closed: the other direction ends too
			return
		}
	}
}

// waitPass blocks while the proxy is frozen or either connection is stalled; it returns false
// if the connection was dropped meanwhile.
func (p *Proxy) waitPass(src, dst net.Conn) bool {
	for {
		p.mu.Lock()
		_, open := p.conns[src]
		var wait chan struct{}
		switch {
		case p.mode != forwarding:
			wait = p.healed
		case p.stalled[src] || p.stalled[dst]:
			wait = p.unstall
		}
		p.mu.Unlock()
		if !open {
			return false
		}
		if wait == nil {
			return true
		}
		<-wait
	}
}
