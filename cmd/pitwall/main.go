// Command pitwall is Pitwall's one binary: it reads cars, runs the edge
// agent and the cloud side, simulates cars, and benchmarks them.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// command is one subcommand.
type command struct {
	name    string
	summary string
	usage   string // the argument synopsis
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

func commands() []command {
	return []command{
		{"scan", "read everything a car reports over OBD-II", "--adapter URL [--json] [--timeout D]", runScan},
		{"bench", "measure throughput and latency: OBD reads, the agent, the ingest, alerts", "obd|agent|ingest|alerts [flags]", runBench},
		{"agent", "run the in-car agent: poll the car, spool, publish over MQTT; pair it once with a code", "--adapter URL [--server https://HOST --pair CODE] [--config agent.yaml]", runAgent},
		{"server", "run the cloud side: ingest into InfluxDB or the embedded store, /metrics, /readyz", "--config server.yaml | --broker URL | --embedded-broker ADDR [flags]", runServer},
		{"nats", "print the accounts, partition mapping and auth callout a NATS cluster needs for Pitwall", "config --server-password-file F [--partitions N] [flags]", runNATS},
		{"rules", "check rule files, print the built-in rule pack", "check FILE... | builtin", runRules},
		{"devices", "register devices, revoke them, export Mosquitto passwords and ACLs", "add|list|revoke|rotate|export|hash [flags]", runDevices},
		{"shops", "add repair shops from YAML files, checked field by field", "add FILE.yaml [--db PATH]", runShops},
		{"store", "move an installation's database: copy its SQLite file into PostgreSQL", "migrate --from FILE.db --to postgres://...", runStore},
		{"users", "add people who sign in (owners, shops' staff, administrators) or servers that read the broker", "add EMAIL --role owner|shop|admin [flags] | add NAME --role server", runUsers},
		{"tail", "print the wire messages passing a broker (--json: one object a line)", "--broker URL [--user NAME --secret-file F] [--device ID] [--json]", runTail},
		{"sim", "simulate an ELM327 and a car, a car's ECUs on SocketCAN, or a fleet; list scenarios and profiles", "elm327|can|fleet|scenarios|profiles [flags]", runSim},
		{"explain", "explain trouble codes (meaning, severity, causes, fair prices) and decode VINs", "CODE|VIN... [--json] [--currency C --per-usd X --labour LO-HI]", runExplain},
		{"demo", "run everything in one process: broker, stores, server, web pages, simulated cars and shops", "[--http ADDR] [--vehicles N] [--speed X] [--data DIR]", runDemo},
		{"version", "print the version", "", runVersion},
		{"help", "show help for a command", "[COMMAND]", nil},
	}
}

// usageError is a mistake on the command line: exit status 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		if len(args) > 1 {
			return help(args[1], stdout, stderr)
		}
		overview(stdout)
		return 0
	}
	for _, c := range commands() {
		if c.name != args[0] || c.run == nil {
			continue
		}
		err := c.run(ctx, args[1:], stdout, stderr)
		var ue usageError
		switch {
		case err == nil:
			return 0
		case errors.Is(err, flag.ErrHelp):
			return 0
		case errors.As(err, &ue):
			fmt.Fprintf(stderr, "pitwall %s: %v\nusage: pitwall %s %s\n", c.name, err, c.name, c.usage)
			return 2
		case errors.Is(err, context.Canceled):
			return 130
		default:
			fmt.Fprintf(stderr, "pitwall %s: %v\n", c.name, err)
			return 1
		}
	}
	fmt.Fprintf(stderr, "pitwall: unknown command %q\n\n", args[0])
	overview(stderr)
	return 2
}

func overview(w io.Writer) {
	fmt.Fprintln(w, "Pitwall reads cars over OBD-II, streams them to the cloud, warns owners of faults and brings the job to a repair shop.")
	fmt.Fprintln(w, "\nUsage: pitwall COMMAND [flags]\n\nCommands:")
	cs := commands()
	sort.SliceStable(cs, func(i, j int) bool { return cs[i].name < cs[j].name })
	for _, c := range cs {
		fmt.Fprintf(w, "  %-8s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nAdapters are named by URL:")
	fmt.Fprintln(w, "  serial:///dev/ttyUSB0?baud=38400   USB or Bluetooth ELM327 (baud is probed when left out)")
	fmt.Fprintln(w, "  tcp://192.168.0.10:35000           Wi-Fi ELM327")
	fmt.Fprintln(w, "  socketcan://can0                   CAN interface on Linux (ISO-TP, no adapter in between)")
	fmt.Fprintln(w, "\nRun 'pitwall help COMMAND' for a command's flags.")
}

func help(name string, stdout, stderr io.Writer) int {
	for _, c := range commands() {
		if c.name == name && c.run != nil {
			return run(context.Background(), []string{name, "-h"}, stdout, stderr)
		}
	}
	fmt.Fprintf(stderr, "pitwall help: unknown command %q\n", name)
	return 2
}

// newFlags makes a flag set that reports errors instead of exiting and
// prints its help in Pitwall's form.
func newFlags(name, synopsis, about string, out io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(out)
	fs.Usage = func() {
		fmt.Fprintf(out, "usage: pitwall %s %s\n\n%s\n\nFlags:\n", name, synopsis, about)
		fs.SetOutput(out)
		fs.PrintDefaults()
		fs.SetOutput(io.Discard)
	}
	return fs
}

// parse parses flags, turning mistakes into usage errors and refusing
// stray arguments.
func parse(fs *flag.FlagSet, args []string) error {
	fs.SetOutput(io.Discard) // errors are reported once, by run
	usage := fs.Usage
	fs.Usage = func() {} // Parse calls it on every error
	err := fs.Parse(args)
	fs.Usage = usage
	if errors.Is(err, flag.ErrHelp) {
		usage()
		return flag.ErrHelp
	}
	if err != nil {
		return usageError{err.Error()}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Sprintf("unexpected argument %q", strings.Join(fs.Args(), " "))}
	}
	return nil
}

func runVersion(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fmt.Fprintf(stdout, "pitwall %s\n", version)
	return nil
}
