package main

import (
	"context"
	"encoding/json"
	"io"
	"time"

	"github.com/pitwall-io/pitwall/firmware-sim/fleet"
)

func simFleet(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("sim fleet", "--broker URL --vehicles N --rate HZ --duration D [--scenario mix]",
		"Publishes wire-format telemetry for N simulated cars, one MQTT connection and device id each, and\n"+
			"ends with one JSON line: vehicles, connected, messages, samples (acknowledged by the broker),\n"+
			"errors, seconds, cpu_seconds, max_rss_mib.", stdout)
	broker := fs.String("broker", "tcp://127.0.0.1:1883", "MQTT broker URL")
	n := fs.Int("vehicles", 10, "number of cars")
	rate := fs.Float64("rate", 1, "telemetry messages per car per second")
	dur := fs.Duration("duration", 30*time.Second, "how long to run")
	scenario := fs.String("scenario", "mix", "mix (mostly healthy, every third car faulty) or a built-in scenario")
	seed := fs.Uint64("seed", 1, "seed")
	speed := fs.Float64("speed", 1, "simulated seconds per real second")
	prefix := fs.String("prefix", "sim", "device ids are PREFIX-00001, ...")
	password := fs.String("password", "", "password sent with each device id as user name")
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
		Seed: *seed, Speed: *speed, Prefix: *prefix, Password: *password, ConnectRate: *connectRate, Log: logger(stderr, *verbose)}
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
	return json.NewEncoder(stdout).Encode(res)
}
