package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/pitwall-io/pitwall/alerting"
	"github.com/pitwall-io/pitwall/booking"
	"github.com/pitwall-io/pitwall/diagnosis"
	"github.com/pitwall-io/pitwall/gateway/broker"
	"github.com/pitwall-io/pitwall/gateway/ingest"
	"github.com/pitwall-io/pitwall/gateway/wire"
	"github.com/pitwall-io/pitwall/pipeline"
	"github.com/pitwall-io/pitwall/rules"
	"github.com/pitwall-io/pitwall/series"
	"github.com/pitwall-io/pitwall/store"
	"github.com/pitwall-io/pitwall/web"
)

// Server is the assembled cloud side.
type Server struct {
	cfg    Config
	log    *slog.Logger
	Store  *store.Store
	Series series.Store
	Ingest *ingest.Ingest
	Broker *broker.Broker // nil without an embedded broker
	// NATSAuth answers a NATS cluster's auth callout; nil unless
	// nats_auth is configured.
	NATSAuth *broker.NATSAuth
	Rules    *rules.Engine
	Alerts   *alerting.Manager
	// Pipeline carries what the ingest stored through the rules,
	// alerting and verify-the-fix; a clustered ingest tells it which cars
	// this server answers for (Adopt, Release).
	Pipeline *pipeline.Pipeline
	Feed     *alerting.Feed
	KB       *diagnosis.KB
	Pricing  diagnosis.Pricing
	Booking  *booking.Service
	Web      *web.Web // the API and the pages, on Mux
	Registry *prometheus.Registry
	// Mux serves the API and the pages, /metrics, /healthz and /readyz;
	// other packages may add routes before Run.
	Mux *http.ServeMux

	listener net.Listener
	closers  []func() error
	// metricsListener serves metricsMux when http.metrics_addr is set.
	metricsListener net.Listener
	metricsMux      *http.ServeMux
	bcryptCost      int
	ingestOpts      []ingest.Option

	commandBoot uint64 // the header's boot id of the commands this server sends
	// symptomOf is each loaded rule's symptom label, for alerts stored
	// before their rule named one.
	symptomOf  map[string]string
	commandSeq atomic.Uint64 // and their numbers
}

// Option changes a Server.
type Option func(*Server)

// WithLogger sends the server's logs to l.
func WithLogger(l *slog.Logger) Option { return func(s *Server) { s.log = l } }

// WithBcryptCost hashes new passwords at cost n (tests and benchmarks use
// bcrypt.MinCost; production keeps the default).
func WithBcryptCost(n int) Option { return func(s *Server) { s.bcryptCost = n } }

// WithIngestOptions adds options to the ingest (partition hooks, test
// dialers).
func WithIngestOptions(o ...ingest.Option) Option {
	return func(s *Server) { s.ingestOpts = append(s.ingestOpts, o...) }
}

// New opens the stores, starts the embedded broker if configured, and
// binds the HTTP listener. Run serves. On error, whatever was opened is
// closed again.
func New(ctx context.Context, cfg Config, opts ...Option) (_ *Server, err error) {
	cfg.Defaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, log: slog.New(slog.DiscardHandler), Registry: prometheus.NewRegistry(), Mux: http.NewServeMux(), commandBoot: rand.Uint64()}
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
	s.symptomOf = map[string]string{}
	for _, r := range set.Rules {
		if id := r.Labels[rules.SymptomLabel]; id != "" {
			s.symptomOf[r.Name] = id
		}
	}
	s.Rules = rules.NewEngine(set, rules.WithMaintenance(s.maintenance))
	// The ingest's listener is the pipeline, which is joined below once
	// the alert manager and the booking service exist; the ingest tells
	// no listener before Run.
	iopts := []ingest.Option{ingest.WithLogger(s.log), ingest.WithRegistry(s.Registry), ingest.WithRevocations(s.Store),
		ingest.WithListener("pipeline", func(ctx context.Context, rs []ingest.Record) error { return s.Pipeline.Listen(ctx, rs) })}
	if ingest.IsNATS(cfg.Ingest.Broker.URL) {
		// On a cluster this server answers for the cars of the partitions
		// it holds: taking one rebuilds its cars' rule state from what is
		// stored, before any of its messages is handled; giving one up
		// drops it.
		iopts = append(iopts, ingest.WithLeases(func(ctx context.Context) (ingest.Leases, error) {
			return store.OpenLeases(ctx, dsn, store.LeaseOptions{Class: store.IngestLeaseClass, KeepAlive: cfg.Ingest.NATS.LeaseTimeout})
		}), ingest.WithPartitionHooks(ingest.PartitionHooks{
			Acquired: func(ctx context.Context, p ingest.Partition) error { return s.Pipeline.AdoptWhere(ctx, p.Has) },
			Released: func(p ingest.Partition) { s.Pipeline.ReleaseWhere(p.Has) },
		}))
	}
	if s.Ingest, err = ingest.New(cfg.Ingest, s.Series, s.Store, append(iopts, s.ingestOpts...)...); err != nil {
		return nil, err
	}
	if a := cfg.NATSAuth; a.IssuerSeedFile != "" {
		if err := s.startNATSAuth(); err != nil {
			return nil, err
		}
	}
	if eb := cfg.EmbeddedBroker; eb.Enabled() {
		opt := broker.Options{Addr: eb.Addr, TLSAddr: eb.TLS.Addr, Devices: s.Store, CheckSecret: store.CheckSecret,
			Servers: eb.ServerUsers, ServerUsers: s.Store.BrokerUsers, Deliver: s.Ingest.Deliver, MaxClients: eb.MaxClients, MaxConnecting: eb.MaxConnecting, MaxConnectingPerAddress: eb.MaxConnectingPerAddress,
			ConnectTimeout: eb.ConnectTimeout, RevocationCheck: eb.RevocationCheck, Registry: s.Registry, Log: s.log}
		if eb.TLS.Addr != "" {
			if opt.TLSConfig, err = broker.LoadTLS(eb.TLS.CertFile, eb.TLS.KeyFile); err != nil {
				return nil, fmt.Errorf("server: embedded_broker.tls: %w", err)
			}
		}
		b, err := broker.Start(opt)
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
		RepeatInterval: cfg.Alerting.RepeatInterval, LogRetention: cfg.Alerting.LogRetention, Inhibits: set.Inhibits}, s.Store, notifiers, alerting.WithLogger(s.log))
	if err := s.openBooking(); err != nil {
		return nil, err
	}
	if s.Pipeline, err = pipeline.New(pipeline.Deps{Store: s.Store, Series: s.Series, Rules: s.Rules, Alerts: s.Alerts, Repairs: s.Booking, Log: s.log,
		Partitioned: ingest.IsNATS(cfg.Ingest.Broker.URL)}); err != nil {
		return nil, err
	}
	s.log.Info("rules loaded", "rules", len(set.Rules), "inhibit_rules", len(set.Inhibits), "notifiers", len(notifiers))

	s.Mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	s.Mux.HandleFunc("GET /readyz", s.readyz)
	if s.listener, err = net.Listen("tcp", cfg.HTTP.Addr); err != nil {
		return nil, fmt.Errorf("server: http.addr %s: %w", cfg.HTTP.Addr, err)
	}
	s.closers = append(s.closers, s.listener.Close)
	if err := s.mountMetrics(); err != nil {
		return nil, err
	}
	if err := s.mountWeb(); err != nil {
		return nil, err
	}
	return s, nil
}

// startNATSAuth answers the NATS cluster's auth callout for devices.
func (s *Server) startNATSAuth() error {
	a := s.cfg.NATSAuth
	seed, err := broker.ReadSeed(a.IssuerSeedFile)
	if err != nil {
		return fmt.Errorf("server: nats_auth.issuer_seed_file: %w", err)
	}
	var pw string
	if a.PasswordFile != "" {
		b, err := os.ReadFile(a.PasswordFile)
		if err != nil {
			return fmt.Errorf("server: nats_auth.password_file: %w", err)
		}
		pw = strings.TrimSpace(string(b))
	}
	b := s.cfg.Ingest.Broker
	var nopts []nats.Option
	if tc, err := wire.ClientTLS(a.URL, b.CAFile, b.CertFile, b.KeyFile); err != nil {
		return fmt.Errorf("server: nats_auth: %w", err)
	} else if tc != nil {
		nopts = append(nopts, nats.Secure(tc))
	}
	if s.NATSAuth, err = broker.StartNATSAuth(broker.NATSAuthOptions{URL: a.URL, User: a.Username, Password: pw, NATSOptions: nopts,
		IssuerSeed: seed, Account: a.Account, Partitions: s.cfg.Ingest.NATS.Partitions, SessionMax: a.SessionMax,
		Devices: s.Store, Registry: s.Registry, Log: s.log}); err != nil {
		return err
	}
	s.closers = append(s.closers, s.NATSAuth.Close)
	return nil
}

// mountWeb builds the API and the pages on the server's parts and adds
// them to Mux.
func (s *Server) mountWeb() error {
	d := web.Deps{Store: s.Store, Booking: s.Booking, Cars: s, History: s.Series, Feed: s.Feed, Fleet: s,
		PublicURL: s.publicURL(), TrustedProxies: s.cfg.proxies(), BcryptCost: s.bcryptCost, Log: s.log}
	if n, ok := s.Booking.Notify.(*booking.Dispatch); ok {
		n.BaseURL = d.PublicURL // emailed notes link to their page
	}
	email, err := s.email()
	if err != nil {
		return err
	}
	if email != nil {
		d.Mailer = email
	}
	if d.Pairing, err = s.pairing(); err != nil {
		return err
	}
	if s.Web, err = web.New(d); err != nil {
		return err
	}
	s.Web.Register(s.Mux)
	return nil
}

// publicURL is http.public_url, or the listener's own address when the
// configuration left the port to the system.
func (s *Server) publicURL() string {
	if s.cfg.HTTP.PublicURL == "http://"+s.cfg.HTTP.Addr {
		return "http://" + s.HTTPAddr()
	}
	return strings.TrimRight(s.cfg.HTTP.PublicURL, "/")
}

// pairing is what dongles are told when they pair: pairing.broker_url,
// or the embedded broker's port on the public URL's host.
func (s *Server) pairing() (web.Pairing, error) {
	p := web.Pairing{BrokerURL: s.cfg.Pairing.BrokerURL}
	if f := s.cfg.Pairing.CAFile; f != "" {
		b, err := os.ReadFile(f)
		if err != nil {
			return p, fmt.Errorf("server: pairing.ca_file: %w", err)
		}
		p.CAPEM = string(b)
	}
	if p.BrokerURL == "" && s.Broker != nil {
		u, err := url.Parse(s.publicURL())
		if err != nil {
			return p, err
		}
		_, port, _ := net.SplitHostPort(s.Broker.Addr())
		p.BrokerURL = "tcp://" + net.JoinHostPort(u.Hostname(), port)
	}
	return p, nil
}

// HTTPAddr is the address the HTTP listener is bound to.
func (s *Server) HTTPAddr() string { return s.listener.Addr().String() }

// Run serves until ctx ends, then stops the ingest and closes everything.
func (s *Server) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	srv := &http.Server{Handler: s.Mux, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: time.Minute, IdleTimeout: 2 * time.Minute}
	errc := make(chan error, 4)
	var wg sync.WaitGroup
	var msrv *http.Server
	if s.metricsListener != nil {
		msrv = &http.Server{Handler: s.metricsMux, ReadHeaderTimeout: 10 * time.Second}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := msrv.Serve(s.metricsListener); err != nil && !errors.Is(err, http.ErrServerClosed) {
				errc <- fmt.Errorf("server: metrics: %w", err)
				cancel()
			}
		}()
	}
	// Every car's rule state is rebuilt before the ingest hands on a
	// batch: a for: that was pending when the last server stopped goes on.
	if err := s.Pipeline.Start(ctx); err != nil {
		s.log.Error("pipeline: some cars' rule state could not be rebuilt; they start afresh", "err", err)
	}
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
	if msrv != nil {
		_ = msrv.Shutdown(shutdown)
	}
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
		if s.Broker.Addr() != "" && s.Broker.TLSURL() != "" {
			return "embedded " + s.Broker.URL() + " and " + s.Broker.TLSURL()
		}
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
	if s.NATSAuth != nil {
		checks["nats_auth"] = s.NATSAuth.Ready()
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
