package main

import (
	"context"
	"fmt"
	"io"

	"github.com/pitwall-io/pitwall/server"
	"github.com/pitwall-io/pitwall/store"
)

func runServer(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("server", "--config server.yaml | --broker URL | --embedded-broker ADDR | --embedded-broker-tls ADDR --embedded-broker-cert F --embedded-broker-key F [--influx-url URL ...] [--http ADDR] [--db PATH|URL]",
		"Runs the cloud side: consumes every car's messages from the broker (or runs an embedded\n"+
			"one), stores telemetry in InfluxDB (or the embedded engine) and the rest in the database,\n"+
			"acknowledging nothing before it is stored, and serves /metrics, /healthz and /readyz.\n"+
			"Flags override the file.", stdout)
	config := fs.String("config", "", "server configuration file (YAML)")
	brokerURL := fs.String("broker", "", "broker to consume from: MQTT (tcp:// or ssl://) or a NATS cluster (nats://HOST:PORT,nats://…)")
	embedded := fs.String("embedded-broker", "", "run the embedded MQTT broker on this address (HOST:PORT), in the clear")
	embeddedTLS := fs.String("embedded-broker-tls", "", "run the embedded MQTT broker's TLS listener on this address (HOST:PORT, usually :8883)")
	embeddedCert := fs.String("embedded-broker-cert", "", "the TLS listener's certificate (PEM file, chain included)")
	embeddedKey := fs.String("embedded-broker-key", "", "the TLS listener's private key (PEM file)")
	group := fs.String("group", "", "shared-subscription group, for several servers splitting the stream")
	influxURL := fs.String("influx-url", "", "InfluxDB URL; without it the embedded series engine is used")
	bucket := fs.String("influx-bucket", "", "InfluxDB bucket, or database for 1.8 (default pitwall)")
	token := fs.String("influx-token", "", "InfluxDB token (user:password for 1.8)")
	httpAddr := fs.String("http", "", "HTTP address (default 127.0.0.1:8080)")
	publicURL := fs.String("public-url", "", "how people and dongles reach the server, for emailed links and pairing (default http://HTTP)")
	db := fs.String("db", "", "database: a SQLite file (default "+server.DefaultStorePath+") or a postgres:// URL")
	verbose := fs.Bool("v", false, "log details to stderr")
	if err := parse(fs, args); err != nil {
		return err
	}
	var cfg server.Config
	if *config != "" {
		var err error
		if cfg, err = server.Load(*config); err != nil {
			return err
		}
	}
	for dst, v := range map[*string]string{&cfg.Ingest.Broker.URL: *brokerURL, &cfg.EmbeddedBroker.Addr: *embedded,
		&cfg.EmbeddedBroker.TLS.Addr: *embeddedTLS, &cfg.EmbeddedBroker.TLS.CertFile: *embeddedCert, &cfg.EmbeddedBroker.TLS.KeyFile: *embeddedKey, &cfg.Ingest.Group: *group,
		&cfg.Series.Influx.URL: *influxURL, &cfg.Series.Influx.Bucket: *bucket, &cfg.Series.Influx.Token: *token,
		&cfg.HTTP.Addr: *httpAddr, &cfg.HTTP.PublicURL: *publicURL} {
		if v != "" {
			*dst = v
		}
	}
	if *db != "" {
		// A URL is PostgreSQL; anything else goes to the path, where a
		// URL of another scheme is refused rather than made a file.
		cfg.Store.Path, cfg.Store.URL = *db, ""
		if e, err := store.Engine(*db); err == nil && e == store.Postgres {
			cfg.Store.Path, cfg.Store.URL = "", *db
		}
	}
	if *influxURL != "" {
		cfg.Series.Engine = "influxdb"
	}
	if *config == "" && cfg.Ingest.Broker.URL == "" && !cfg.EmbeddedBroker.Enabled() {
		return usageError{"give --config, --broker, --embedded-broker or --embedded-broker-tls"}
	}
	log := logger(stderr, *verbose)
	s, err := server.New(ctx, cfg, server.WithLogger(log))
	if err != nil {
		return err
	}
	broker := cfg.Ingest.Broker.URL
	if s.Broker != nil {
		broker = "embedded, " + s.Broker.URL()
		if s.Broker.Addr() != "" && s.Broker.TLSURL() != "" {
			broker += " and " + s.Broker.TLSURL()
		}
	}
	fmt.Fprintf(stderr, "pitwall server %s: http %s, broker %s, series %s, database %s\n", version, s.HTTPAddr(), broker, cfg.Series.Engine, cfg.Store.DB())
	return s.Run(ctx)
}
