package main

import (
	"context"
	"fmt"
	"io"

	"github.com/pitwall-io/pitwall/server"
	"github.com/pitwall-io/pitwall/store"
	"github.com/pitwall-io/pitwall/web"
)

func runServer(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("server", "--config server.yaml | --broker URL | --embedded-broker ADDR [--influx-url URL ...] [--http ADDR] [--db PATH|URL]",
		"Runs the cloud side: consumes every car's messages from the broker (or runs an embedded\n"+
			"one), stores telemetry in InfluxDB (or the embedded engine) and the rest in the database,\n"+
			"acknowledging nothing before it is stored, and serves /metrics, /healthz and /readyz.\n"+
			"Flags override the file.", stdout)
	config := fs.String("config", "", "server configuration file (YAML)")
	brokerURL := fs.String("broker", "", "MQTT broker to consume from (tcp:// or ssl://)")
	embedded := fs.String("embedded-broker", "", "run the embedded MQTT broker on this address (HOST:PORT)")
	group := fs.String("group", "", "shared-subscription group, for several servers splitting the stream")
	influxURL := fs.String("influx-url", "", "InfluxDB URL; without it the embedded series engine is used")
	bucket := fs.String("influx-bucket", "", "InfluxDB bucket, or database for 1.8 (default pitwall)")
	token := fs.String("influx-token", "", "InfluxDB token (user:password for 1.8)")
	httpAddr := fs.String("http", "", "HTTP address (default 127.0.0.1:8080)")
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
	for dst, v := range map[*string]string{&cfg.Ingest.Broker.URL: *brokerURL, &cfg.EmbeddedBroker.Addr: *embedded, &cfg.Ingest.Group: *group,
		&cfg.Series.Influx.URL: *influxURL, &cfg.Series.Influx.Bucket: *bucket, &cfg.Series.Influx.Token: *token,
		&cfg.HTTP.Addr: *httpAddr} {
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
	if *config == "" && cfg.Ingest.Broker.URL == "" && cfg.EmbeddedBroker.Addr == "" {
		return usageError{"give --config, --broker or --embedded-broker"}
	}
	log := logger(stderr, *verbose)
	s, err := server.New(ctx, cfg, server.WithLogger(log))
	if err != nil {
		return err
	}
	w, err := web.New(s, log)
	if err != nil {
		s.Close()
		return err
	}
	w.Register(s.Mux)
	broker := cfg.Ingest.Broker.URL
	if s.Broker != nil {
		broker = "embedded, " + s.Broker.URL()
	}
	fmt.Fprintf(stderr, "pitwall server %s: http %s, broker %s, series %s, database %s\n", version, s.HTTPAddr(), broker, cfg.Series.Engine, cfg.Store.DB())
	return s.Run(ctx)
}
