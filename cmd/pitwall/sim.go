package main

import (
	"context"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/pitwall-io/pitwall/firmware-sim/car"
	"github.com/pitwall-io/pitwall/firmware-sim/dongle"
	"github.com/pitwall-io/pitwall/firmware-sim/ecu"
	"github.com/pitwall-io/pitwall/obd"
	"github.com/pitwall-io/pitwall/obd/socketcan"
)

func runSim(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usageError{"name what to simulate: elm327, can, fleet, scenarios or profiles"}
	}
	switch args[0] {
	case "elm327":
		return simELM327(ctx, args[1:], stdout, stderr)
	case "fleet":
		return simFleet(ctx, args[1:], stdout, stderr)
	case "can":
		return simCAN(ctx, args[1:], stdout, stderr)
	case "scenarios":
		return simScenarios(args[1:], stdout)
	case "profiles":
		tw := tabwriter.NewWriter(stdout, 0, 2, 2, ' ', 0)
		for _, n := range dongle.ProfileNames() {
			fmt.Fprintf(tw, "%s\t%s\n", n, dongle.Profiles[n].Description)
		}
		return tw.Flush()
	case "-h", "--help":
		fmt.Fprintln(stdout, "usage: pitwall sim elm327|can|fleet|scenarios|profiles ...")
		return flag.ErrHelp
	}
	return usageError{fmt.Sprintf("unknown simulation %q; known: elm327, can, fleet, scenarios, profiles", args[0])}
}

func simScenarios(args []string, stdout io.Writer) error {
	if len(args) > 0 {
		return usageError{fmt.Sprintf("unexpected argument %q", args[0])}
	}
	tw := tabwriter.NewWriter(stdout, 0, 2, 2, ' ', 0)
	for _, sc := range car.Builtins() {
		var faults []string
		for _, f := range sc.Faults {
			faults = append(faults, fmt.Sprintf("%s at %v", f.Kind, f.At))
		}
		if len(faults) == 0 {
			faults = []string{"none"}
		}
		fmt.Fprintf(tw, "%s\t%s\n\t  faults: %s\n", sc.Name, sc.Description, strings.Join(faults, "; "))
	}
	return tw.Flush()
}

func simELM327(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("sim elm327", "--listen pty|tcp://HOST:PORT [--scenario NAME] [--seed N] [--speed X] [--profile P] [--refuse 0900,...]",
		"Emulates an ELM327 adapter plugged into a simulated car and serves it until stopped. The first\n"+
			"line printed is the pseudo-terminal's path (open it as serial://PATH) or the TCP address.", stdout)
	listen := fs.String("listen", "tcp://127.0.0.1:35000", "pty, or tcp://HOST:PORT")
	scenario := fs.String("scenario", "healthy", "built-in scenario (pitwall sim scenarios) or a scenario .yaml file")
	seed := fs.Uint64("seed", 1, "seed: the same seed drives the same way")
	speed := fs.Float64("speed", 1, "simulated seconds per real second")
	profile := fs.String("profile", "genuine", "adapter profile: "+strings.Join(dongle.ProfileNames(), ", "))
	protocol := fs.String("protocol", "6", "the car's bus: 6 (CAN 11-bit), 7 (CAN 29-bit) or 3 (ISO 9141-2)")
	noTiming := fs.Bool("no-timing", false, "answer at once instead of at the adapter's speed")
	ecus := fs.String("ecus", "all", "all (engine and transmission) or engine")
	refuse := fs.String("refuse", "", "requests the ECUs do not answer, in hex and comma-separated (0900,0600: a car that refuses its supported maps)")
	verbose := fs.Bool("v", false, "log sessions to stderr")
	if err := parse(fs, args); err != nil {
		return err
	}
	sc, err := car.Load(*scenario)
	if err != nil {
		return err
	}
	p, err := dongle.LookupProfile(*profile)
	if err != nil {
		return usageError{err.Error()}
	}
	if *speed <= 0 || *speed > 10000 {
		return usageError{"--speed must be between 0 and 10000"}
	}
	var proto obd.Protocol
	switch *protocol {
	case "6":
		proto = obd.ProtocolCAN11_500
	case "7":
		proto = obd.ProtocolCAN29_500
	case "3":
		proto = obd.ProtocolISO9141
	default:
		return usageError{fmt.Sprintf("--protocol %q: the simulator drives 6, 7 or 3", *protocol)}
	}
	c := car.New(car.DefaultSpec(), sc, *seed)
	clock := car.NewClock(*speed)
	var refused []string
	for _, r := range strings.Split(*refuse, ",") {
		if r = strings.TrimSpace(r); r == "" {
			continue
		}
		if b, err := hex.DecodeString(r); err != nil || len(b) == 0 || len(b) > 7 {
			return usageError{fmt.Sprintf("--refuse %q: want OBD requests in hex, like 0900,0600", r)}
		}
		refused = append(refused, r)
	}
	mods := ecu.Modules(c, clock, ecu.Options{Legacy: proto == obd.ProtocolISO9141, Extended: proto == obd.ProtocolCAN29_500, Seed: *seed, Refuse: refused})
	switch *ecus {
	case "all":
	case "engine":
		mods = mods[:1]
	default:
		return usageError{fmt.Sprintf("--ecus %q: all or engine", *ecus)}
	}
	em := dongle.New(dongle.Config{Profile: p, Car: c, Clock: clock, Modules: mods, Protocol: proto, Timing: !*noTiming, Log: logger(stderr, *verbose)})

	if *listen == "pty" {
		pt, err := dongle.OpenPTY()
		if err != nil {
			return err
		}
		defer pt.Close()
		fmt.Fprintln(stdout, pt.Path)
		return em.ServePTY(ctx, pt)
	}
	u, err := url.Parse(*listen)
	if err != nil || u.Scheme != "tcp" || u.Host == "" {
		return usageError{fmt.Sprintf("--listen %q: want pty or tcp://HOST:PORT", *listen)}
	}
	return em.ListenTCP(ctx, u.Host, func(a net.Addr) { fmt.Fprintf(stdout, "tcp://%s\n", a) })
}

func simCAN(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("sim can", "--iface vcan0 [--scenario NAME] [--seed N] [--speed X] [--extended]",
		"Puts the simulated car's engine and transmission modules on a SocketCAN interface (Linux; a vcan\n"+
			"interface works: ip link add vcan0 type vcan && ip link set vcan0 up), answering OBD over ISO-TP.\n"+
			"Read it with pitwall scan --adapter socketcan://vcan0.", stdout)
	iface := fs.String("iface", "vcan0", "SocketCAN interface")
	scenario := fs.String("scenario", "healthy", "built-in scenario or a scenario .yaml file")
	seed := fs.Uint64("seed", 1, "seed")
	speed := fs.Float64("speed", 1, "simulated seconds per real second")
	extended := fs.Bool("extended", false, "29-bit identifiers (18DAF110, 18DAF118)")
	start := fs.Duration("start", 0, "begin this far (simulated time) into the drive: the car is running and warm, not just started")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *start < 0 || *start > 30*24*time.Hour {
		return usageError{"--start wants 0 to 720h"}
	}
	sc, err := car.Load(*scenario)
	if err != nil {
		return err
	}
	c := car.New(car.DefaultSpec(), sc, *seed)
	c.Advance(*start)
	clock := car.NewClock(*speed)
	mods := ecu.Modules(c, clock, ecu.Options{Extended: *extended, Seed: *seed})
	open := func(ids []uint32, ext bool) (ecu.Port, error) { return socketcan.OpenIDs(*iface, ids, ext) }
	wait, err := ecu.ServeCAN(ctx, open, mods)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "socketcan://%s\n", *iface)
	wait()
	return nil
}
