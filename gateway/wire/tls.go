package wire

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"strings"
)

// ClientTLS is the TLS a client uses to reach a broker: nil for a plain
// tcp:// broker without certificates, otherwise TLS 1.2 or later that
// trusts caFile (or the system's roots) and presents certFile/keyFile when
// given.
func ClientTLS(brokerURL, caFile, certFile, keyFile string) (*tls.Config, error) {
	secure := false
	for _, p := range []string{"ssl://", "tls://", "mqtts://", "wss://"} {
		secure = secure || strings.HasPrefix(brokerURL, p)
	}
	if !secure && caFile == "" && certFile == "" {
		return nil, nil
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("broker CA: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("broker CA %s: no PEM certificates in it", caFile)
		}
		tc.RootCAs = pool
	}
	if certFile != "" {
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, fmt.Errorf("client certificate: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}
