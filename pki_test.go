package k8s

// Certificates for the tests of TLS: a CA with a server and a client certificate, in memory.

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"sync/atomic"
	"testing"
	"time"
)

// testPKI is a CA with a server and a client certificate, all in memory.
type testPKI struct {
	roots  *x509.CertPool
	server tls.Certificate // for testServerName
	client tls.Certificate
}

// testServerName is the DNS name in the server certificate. Clients dial 127.0.0.1, like
// pods dial IPs, so they set it as tls.Config.ServerName, or verify the IP 127.0.0.1,
// which the certificate also holds.
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
	serverTmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1)} // for clients that verify the peer's IP
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
