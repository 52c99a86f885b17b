package server

import (
	"crypto/subtle"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// mountMetrics serves /metrics where it is meant to be seen: on its own
// listener (http.metrics_addr), behind a bearer token
// (http.metrics_token_file), or on the main listener only when that is a
// loopback address. Otherwise it is not served, and the log says how to.
func (s *Server) mountMetrics() error {
	h := promhttp.HandlerFor(s.Registry, promhttp.HandlerOpts{Registry: s.Registry})
	c := s.cfg.HTTP
	if c.MetricsAddr != "" {
		l, err := net.Listen("tcp", c.MetricsAddr)
		if err != nil {
			return fmt.Errorf("server: http.metrics_addr %s: %w", c.MetricsAddr, err)
		}
		s.metricsListener = l
		s.closers = append(s.closers, l.Close)
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", h)
		s.metricsMux = mux
		return nil
	}
	if c.MetricsTokenFile != "" {
		b, err := os.ReadFile(c.MetricsTokenFile)
		if err != nil {
			return fmt.Errorf("server: http.metrics_token_file: %w", err)
		}
		tok := strings.TrimSpace(string(b))
		if len(tok) < 16 {
			return fmt.Errorf("server: http.metrics_token_file %s: the token has %d characters; use at least 16", c.MetricsTokenFile, len(tok))
		}
		s.Mux.Handle("GET /metrics", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
			if !ok || subtle.ConstantTimeCompare([]byte(got), []byte(tok)) != 1 {
				w.Header().Set("WWW-Authenticate", `Bearer realm="metrics"`)
				http.Error(w, "metrics need the bearer token of http.metrics_token_file", http.StatusUnauthorized)
				return
			}
			h.ServeHTTP(w, r)
		}))
		return nil
	}
	if host, _, err := net.SplitHostPort(s.HTTPAddr()); err == nil {
		if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
			s.Mux.Handle("GET /metrics", h)
			return nil
		}
	}
	s.log.Warn("server: /metrics is not served on a public listener; set http.metrics_addr (its own address) or http.metrics_token_file", "http", s.HTTPAddr())
	return nil
}
