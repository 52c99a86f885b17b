package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/pitwall-io/pitwall/gateway/edge"
)

func runAgent(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("agent", "--config agent.yaml | --adapter URL --broker URL --device-id ID --spool DIR",
		"Runs the in-car agent: reads the car on its poll plan, keeps every message in the spool until the\n"+
			"broker acknowledges it, and takes remote commands. Flags override the file.", stdout)
	config := fs.String("config", "", "agent configuration file (YAML)")
	adapterURL := fs.String("adapter", "", "adapter URL (serial://, tcp://, socketcan://)")
	broker := fs.String("broker", "", "MQTT broker URL (tcp:// or ssl://)")
	device := fs.String("device-id", "", "device id: letters, digits, '-' and '_'")
	spoolDir := fs.String("spool", "", "spool directory")
	metrics := fs.String("metrics", "", "serve /metrics on this address")
	verbose := fs.Bool("v", false, "log details to stderr")
	if err := parse(fs, args); err != nil {
		return err
	}
	var cfg edge.Config
	if *config != "" {
		var err error
		if cfg, err = edge.Load(*config); err != nil {
			return err
		}
	}
	for dst, v := range map[*string]string{&cfg.Adapter: *adapterURL, &cfg.Broker.URL: *broker, &cfg.DeviceID: *device, &cfg.Spool.Dir: *spoolDir, &cfg.Metrics: *metrics} {
		if v != "" {
			*dst = v
		}
	}
	if *config == "" && (cfg.Adapter == "" || cfg.Broker.URL == "" || cfg.DeviceID == "") {
		return usageError{"give --config, or --adapter, --broker and --device-id"}
	}
	a, err := edge.New(cfg, edge.WithLogger(logger(stderr, *verbose)))
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "pitwall agent %s: device %s, adapter %s, broker %s, spool %s\n", version, cfg.DeviceID, cfg.Adapter, cfg.Redacted().Broker.URL, cfg.Spool.Dir)
	start := time.Now()
	err = a.Run(ctx)
	st := a.Stats().Spool
	fmt.Fprintf(stderr, "pitwall agent: stopped after %v; %d records waiting in the spool, %d dropped\n", time.Since(start).Round(time.Second), st.Pending, st.Dropped[0]+st.Dropped[1])
	return err
}
