package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/pitwall-io/pitwall/alerting"
	"github.com/pitwall-io/pitwall/booking"
	"github.com/pitwall-io/pitwall/diagnosis"
	"github.com/pitwall-io/pitwall/gateway/broker"
	"github.com/pitwall-io/pitwall/gateway/ingest"
	"github.com/pitwall-io/pitwall/rules"
	"github.com/pitwall-io/pitwall/series"
	"github.com/pitwall-io/pitwall/store"
)

// Server is the assembled cloud side.
type Server struct {
	cfg      Config
	log      *slog.Logger
	Store    *store.Store
	Series   series.Store
	Ingest   *ingest.Ingest
	Broker   *broker.Broker // nil without an embedded broker
	Rules    *rules.Engine
	Alerts   *alerting.Manager
	Feed     *alerting.Feed
	KB       *diagnosis.KB
	Pricing  diagnosis.Pricing
	Booking  *booking.Service
	Registry *prometheus.Registry
	// Mux serves /metrics, /healthz and /readyz; other packages add their
	// routes before Run.
	Mux *http.ServeMux

	listener net.Listener
	closers  []func() error
	live     liveValues
}

// Option changes a Server.
type Option func(*Server)

// WithLogger sends the server's logs to l.
func WithLogger(l *slog.Logger) Option { return func(s *Server) { s.log = l } }

// New opens the stores, starts the embedded broker if configured, and
// binds the HTTP listener. Run serves. On error, whatever was opened is
// closed again.
func New(ctx context.Context, cfg Config, opts ...Option) (_ *Server, err error) {
	cfg.Defaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, log: slog.New(slog.DiscardHandler), Registry: prometheus.NewRegistry(), Mux: http.NewServeMux()}
	for _, o := range opts {
		o(s)
	}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	s.Registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	// The default directory is made; any other must exist.
	if cfg.Store.Path == DefaultStorePath || cfg.Series.Engine == "embedded" && filepath.Dir(cfg.Series.Path) == filepath.Dir(DefaultStorePath) {
		if err := os.MkdirAll(filepath.Dir(DefaultStorePath), 0o750); err != nil {
			return nil, fmt.Errorf("server: store directory: %w", err)
		}
	}
	dsn, err := cfg.Store.DSN()
	if err != nil {
		return nil, err
	}
	if s.Store, err = store.OpenPool(ctx, dsn, cfg.Store.Pool); err != nil {
		return nil, err
	}
	s.closers = append(s.closers, s.Store.Close)

	switch cfg.Series.Engine {
	case "influxdb":
		token := cfg.Series.Influx.Token
		if f := cfg.Series.Influx.TokenFile; f != "" {
			b, err := os.ReadFile(f)
			if err != nil {
				return nil, fmt.Errorf("server: series.influxdb.token_file: %w", err)
			}
			token = strings.TrimSpace(string(b))
		}
		in, err := series.OpenInflux(ctx, series.InfluxOptions{URL: cfg.Series.Influx.URL, Token: token, Org: cfg.Series.Influx.Org,
			Bucket: cfg.Series.Influx.Bucket, GZip: cfg.Series.Influx.GZip, Log: s.log})
		if err != nil {
			return nil, err
		}
		s.Series = in
	default:
		e, err := series.OpenEmbedded(series.EmbeddedOptions{Path: cfg.Series.Path, Retention: cfg.Series.Retention, Log: s.log})
		if err != nil {
			return nil, err
		}
		s.Series = e
	}
	s.closers = append(s.closers, s.Series.Close)

	set := s.loadRules()
	s.Rules = rules.NewEngine(set, rules.WithMaintenance(s.maintenance))
	if err := s.restoreAlerts(ctx); err != nil {
		return nil, err
	}
	if s.Ingest, err = ingest.New(cfg.Ingest, s.Series, s.Store, ingest.WithLogger(s.log), ingest.WithRegistry(s.Registry),
		ingest.WithListener(s.evaluate)); err != nil {
		return nil, err
	}
	if cfg.EmbeddedBroker.Addr != "" {
		b, err := broker.Start(broker.Options{Addr: cfg.EmbeddedBroker.Addr, Devices: s.Store, CheckSecret: store.CheckSecret,
			Servers: cfg.EmbeddedBroker.ServerUsers, Deliver: s.Ingest.Deliver, Log: s.log})
		if err != nil {
			return nil, err
		}
		s.Broker = b
		s.closers = append(s.closers, b.Close)
	}

	notifiers, err := s.notifiers()
	if err != nil {
		return nil, err
	}
	s.Alerts = alerting.New(alerting.Config{GroupWait: cfg.Alerting.GroupWait, GroupInterval: cfg.Alerting.GroupInterval,
		RepeatInterval: cfg.Alerting.RepeatInterval, Inhibits: set.Inhibits}, s.Store, notifiers, alerting.WithLogger(s.log))
	if err := s.openBooking(); err != nil {
		return nil, err
	}
	s.log.Info("rules loaded", "rules", len(set.Rules), "inhibit_rules", len(set.Inhibits), "notifiers", len(notifiers))

	s.Mux.Handle("GET /metrics", promhttp.HandlerFor(s.Registry, promhttp.HandlerOpts{Registry: s.Registry}))
	s.Mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	s.Mux.HandleFunc("GET /readyz", s.readyz)
	if s.listener, err = net.Listen("tcp", cfg.HTTP.Addr); err != nil {
		return nil, fmt.Errorf("server: http.addr %s: %w", cfg.HTTP.Addr, err)
	}
	s.closers = append(s.closers, s.listener.Close)
	return s, nil
}

// HTTPAddr is the address the HTTP listener is bound to.
func (s *Server) HTTPAddr() string { return s.listener.Addr().String() }

// Run serves until ctx ends, then stops the ingest and closes everything.
func (s *Server) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	srv := &http.Server{Handler: s.Mux, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: time.Minute, IdleTimeout: 2 * time.Minute}
	errc := make(chan error, 3)
	var wg sync.WaitGroup
	wg.Add(4)
	go func() {
		defer wg.Done()
		s.sweepLeads(ctx)
	}()
	go func() {
		defer wg.Done()
		if err := s.Alerts.Run(ctx); err != nil {
			errc <- err
			cancel()
		}
	}()
	go func() {
		defer wg.Done()
		if err := srv.Serve(s.listener); err != nil && !errors.Is(err, http.ErrServerClosed) {
			errc <- fmt.Errorf("server: http: %w", err)
			cancel()
		}
	}()
	go func() {
		defer wg.Done()
		if err := s.Ingest.Run(ctx); err != nil {
			errc <- err
			cancel()
		}
	}()
	s.log.Info("pitwall server running", "http", s.HTTPAddr(), "series", s.cfg.Series.Engine, "store", s.cfg.Store.DB(),
		"broker", s.brokerDesc())
	<-ctx.Done()
	shutdown, done := context.WithTimeout(context.Background(), 5*time.Second)
	defer done()
	_ = srv.Shutdown(shutdown)
	wg.Wait()
	s.Booking.Wait()
	s.Close()
	select {
	case err := <-errc:
		return err
	default:
		return nil
	}
}

func (s *Server) brokerDesc() string {
	if s.Broker != nil {
		return "embedded " + s.Broker.URL()
	}
	return s.cfg.Ingest.Broker.URL
}

// Close closes what New opened, newest first; it is safe to call twice.
func (s *Server) Close() {
	for i := len(s.closers) - 1; i >= 0; i-- {
		_ = s.closers[i]()
	}
	s.closers = nil
}

// readyz reports each part's readiness as JSON: 200 when all are ready,
// 503 naming those that are not.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
	defer cancel()
	checks := map[string]error{
		"store":  s.Store.Ready(ctx),
		"series": s.Series.Ready(ctx),
		"ingest": s.Ingest.Ready(),
	}
	out := map[string]string{}
	ok := true
	for name, err := range checks {
		out[name] = "ok"
		if err != nil {
			out[name], ok = err.Error(), false
		}
	}
	w.Header().Set("Content-Type", "application/json")
	if !ok {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	_ = json.NewEncoder(w).Encode(out)
}
