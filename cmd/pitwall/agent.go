package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/pitwall-io/pitwall/gateway/edge"
)

// secretEnv carries a secret into a process without putting it in argv.
const secretEnv = "PITWALL_SECRET"

func runAgent(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("agent", "--adapter URL [--server https://HOST --pair CODE] [--config agent.yaml] [--state DIR]",
		"Runs the in-car agent: reads the car on its poll plan, keeps every message in the spool until the\n"+
			"broker acknowledges it, and takes remote commands. Pair it once with a code from the car's page\n"+
			"(--server and --pair); it keeps its credentials in --state and then needs only --adapter.\n"+
			"Flags override the file.", stdout)
	config := fs.String("config", "", "agent configuration file (YAML)")
	adapterURL := fs.String("adapter", "", "adapter URL (serial://, tcp://, socketcan://)")
	server := fs.String("server", "", "the Pitwall server to pair with (https://HOST)")
	code := fs.String("pair", "", "pairing code from the car's page (one use, 15 minutes)")
	state := fs.String("state", "", "state directory: credentials, poll plan, spool (default "+edge.DefaultStateDir+")")
	broker := fs.String("broker", "", "MQTT broker URL (tcp:// or ssl://), when not paired")
	device := fs.String("device-id", "", "device id, when not paired")
	secretFile := fs.String("secret-file", "", "file holding the device's secret, when not paired (or set "+secretEnv+")")
	spoolDir := fs.String("spool", "", "spool directory (default STATE/spool)")
	metrics := fs.String("metrics", "", "serve /metrics on this address")
	verbose := fs.Bool("v", false, "log details to stderr")
	for _, a := range args {
		if name, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "="); strings.HasPrefix(a, "-") && (name == "secret" || name == "password") {
			return usageError{"a secret on the command line shows in `ps`: give --secret-file FILE or set " + secretEnv}
		}
	}
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
	for dst, v := range map[*string]string{&cfg.Adapter: *adapterURL, &cfg.Broker.URL: *broker, &cfg.DeviceID: *device, &cfg.Spool.Dir: *spoolDir,
		&cfg.Metrics: *metrics, &cfg.StateDir: *state, &cfg.Broker.PasswordFile: *secretFile} {
		if v != "" {
			*dst = v
		}
	}
	if cfg.StateDir == "" {
		cfg.StateDir = edge.DefaultStateDir
	}
	if (*server == "") != (*code == "") {
		return usageError{"pairing takes both --server https://HOST and --pair CODE"}
	}
	if *code != "" {
		c, err := edge.Pair(ctx, nil, *server, *code)
		if err != nil {
			return err
		}
		if err := c.Save(cfg.StateDir); err != nil {
			return err
		}
		fmt.Fprintf(stderr, "pitwall agent: paired as device %s with car %s; credentials kept in %s\n", c.DeviceID, c.VehicleID, cfg.StateDir)
	}
	if env := os.Getenv(secretEnv); env != "" && cfg.Broker.Password == "" && cfg.Broker.PasswordFile == "" {
		cfg.Broker.Password = env
	}
	creds, err := edge.LoadCredentials(cfg.StateDir)
	switch {
	case err == nil:
		creds.Apply(&cfg, cfg.StateDir)
	case !errors.Is(err, edge.ErrNotPaired):
		return err
	}
	if cfg.Adapter == "" || cfg.Broker.URL == "" || cfg.DeviceID == "" {
		return usageError{"give --adapter; and pair once (--server and --pair), or give --broker, --device-id and a secret (--secret-file or " + secretEnv + "), or --config"}
	}
	cfg.Defaults()
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
