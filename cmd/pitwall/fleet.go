package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/pitwall-io/pitwall/firmware-sim/fleet"
)

func simFleet(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("sim fleet", "--broker URL --vehicles N --rate HZ --duration D [--scenario mix] [--server URL --token T | --credentials FILE]",
		"Publishes wire-format telemetry for N simulated cars, one MQTT connection and device id each, and\n"+
			"ends with one JSON line: vehicles, connected, messages, samples (acknowledged by the broker),\n"+
			"errors, seconds, cpu_seconds, max_rss_mib. Each car logs in with its own secret: registered\n"+
			"through a server's API with an administrator's token (--server, --token), or read from the file\n"+
			"`pitwall devices add --count N --out FILE` wrote (--credentials). A run in which a car cannot\n"+
			"connect exits non-zero with the broker's reason.", stdout)
	broker := fs.String("broker", "tcp://127.0.0.1:1883", "MQTT broker URL")
	n := fs.Int("vehicles", 10, "number of cars")
	rate := fs.Float64("rate", 1, "telemetry messages per car per second")
	dur := fs.Duration("duration", 30*time.Second, "how long to run")
	scenario := fs.String("scenario", "mix", "mix (mostly healthy, every third car faulty) or a built-in scenario")
	seed := fs.Uint64("seed", 1, "seed")
	speed := fs.Float64("speed", 1, "simulated seconds per real second")
	prefix := fs.String("prefix", "sim", "device ids are PREFIX-00001, ...")
	server := fs.String("server", "", "register the cars as devices of this Pitwall server (with --token)")
	token := fs.String("token", "", "an administrator's API token for --server (or set PITWALL_TOKEN)")
	credsFile := fs.String("credentials", "", "the cars' ids and secrets, as `pitwall devices add --count` writes them")
	connectRate := fs.Int("connect-rate", 500, "new connections per second")
	throughAgent := fs.Bool("through-agent", false, "run the real edge agent against an emulated ELM327 for each car (small fleets)")
	verbose := fs.Bool("v", false, "log to stderr")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *n <= 0 || *n > 100000 || *rate <= 0 || *rate > 100 || *dur <= 0 {
		return usageError{"--vehicles 1..100000, --rate >0 and ≤100, --duration >0"}
	}
	cfg := fleet.Config{Broker: *broker, Vehicles: *n, Rate: *rate, Duration: *dur, Scenario: *scenario,
		Seed: *seed, Speed: *speed, Prefix: *prefix, Password: os.Getenv(secretEnv), ConnectRate: *connectRate, Log: logger(stderr, *verbose)}
	if *token == "" {
		*token = os.Getenv("PITWALL_TOKEN")
	}
	switch {
	case *server != "" && *credsFile != "":
		return usageError{"give --server (with --token) or --credentials, not both"}
	case *server != "":
		if *token == "" {
			return usageError{"--server needs an administrator's API token: --token T or PITWALL_TOKEN"}
		}
		var err error
		if cfg.Passwords, err = fleet.Provision(ctx, nil, *server, *token, *prefix, *n); err != nil {
			return err
		}
		fmt.Fprintf(stderr, "registered %d cars as devices %s-00001 ... on %s\n", *n, *prefix, *server)
	case *credsFile != "":
		var err error
		if cfg.Passwords, err = fleet.ReadCredentials(*credsFile); err != nil {
			return err
		}
		if len(cfg.Passwords) < *n {
			return fmt.Errorf("%s holds %d cars' credentials; --vehicles is %d", *credsFile, len(cfg.Passwords), *n)
		}
	}
	run := fleet.Run
	if *throughAgent {
		if *n > 200 {
			return usageError{"--through-agent runs a full agent and adapter per car: at most 200 cars"}
		}
		run = fleet.RunThroughAgent
	}
	res, err := run(ctx, cfg)
	if err != nil {
		return err
	}
	if err := json.NewEncoder(stdout).Encode(res); err != nil {
		return err
	}
	if res.Connected < res.Vehicles && ctx.Err() == nil {
		return fmt.Errorf("%d of %d cars could not connect to %s: %s", res.Vehicles-res.Connected, res.Vehicles, *broker, res.FirstError)
	}
	return nil
}
