package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/pitwall-io/pitwall/gateway/edge"
	"github.com/pitwall-io/pitwall/obd"
	"github.com/pitwall-io/pitwall/obd/adapter"
)

func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usageError{"name what to measure: obd"}
	}
	if args[0] == "-h" || args[0] == "--help" {
		fmt.Fprintln(stdout, "usage: pitwall bench obd|agent --adapter URL [--duration D] [--pids LIST] [--json]")
		fmt.Fprintln(stdout, "       pitwall bench ingest --broker URL --influx-url URL [--vehicles N] [--duration D] [--json]")
		fmt.Fprintln(stdout, "       pitwall bench alerts [--broker URL] [--vehicles N] [--duration D] [--json]")
		fmt.Fprintln(stdout, "       pitwall bench api [--store sqlite,postgres://...] [--vehicles N] [--clients N] [--duration D] [--rounds N] [--json]")
		return flag.ErrHelp
	}
	switch args[0] {
	case "obd":
		return benchOBD(ctx, args[1:], stdout, stderr)
	case "agent":
		return benchAgent(ctx, args[1:], stdout, stderr)
	case "ingest":
		return benchIngest(ctx, args[1:], stdout, stderr)
	case "alerts":
		return benchAlerts(ctx, args[1:], stdout, stderr)
	case "api":
		return benchAPI(ctx, args[1:], stdout, stderr)
	}
	return usageError{fmt.Sprintf("unknown benchmark %q; known: obd, agent, ingest, alerts, api", args[0])}
}

// benchResult is one mode's measurement.
type benchResult struct {
	Mode        string  `json:"mode"`
	Requests    int     `json:"requests"`
	PIDs        int     `json:"pids"`
	Errors      int     `json:"errors"`
	Seconds     float64 `json:"seconds"`
	PIDsPerSec  float64 `json:"pids_per_second"`
	MsPerRecord float64 `json:"ms_per_request"`
	Note        string  `json:"note,omitempty"`
}

func benchOBD(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("bench obd", "--adapter URL [--duration D] [--pids LIST] [--json]",
		"Measures PIDs per second three ways on the same adapter and car: one PID per request,\n"+
			"one PID per request with the ELM327 response-count digit, and up to six PIDs packed\n"+
			"in one request (with the count digit). Requests are read-only (service 01).", stdout)
	url := fs.String("adapter", "", "adapter URL (see pitwall help)")
	dur := fs.Duration("duration", 10*time.Second, "how long to measure each mode")
	pidList := fs.String("pids", "0C,0D,11,04,05,0F", "comma-separated service 01 PIDs to poll (unsupported ones are left out)")
	asJSON := fs.Bool("json", false, "print JSON")
	verbose := fs.Bool("v", false, "log every exchange to stderr")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *url == "" {
		return usageError{"--adapter is required"}
	}
	if *dur <= 0 {
		return usageError{"--duration must be positive"}
	}
	var pids []obd.PID
	for _, s := range strings.Split(*pidList, ",") {
		n, err := strconv.ParseUint(strings.TrimSpace(s), 16, 8)
		if err != nil {
			return usageError{fmt.Sprintf("--pids: %q is not a hex PID", s)}
		}
		pids = append(pids, obd.PID(n))
	}
	a, err := adapter.Open(ctx, *url, adapter.WithLogger(logger(stderr, *verbose)))
	if err != nil {
		return err
	}
	defer a.Close()

	sets, err := obd.NewClient(a.Transport).SupportedPIDs(ctx)
	if err != nil {
		return fmt.Errorf("the car did not answer: %w", err)
	}
	var all obd.PIDSet
	for _, s := range sets {
		all.Union(s)
	}
	var use []obd.PID
	for _, p := range pids {
		if all.Has(p) {
			use = append(use, p)
		}
	}
	if len(use) == 0 {
		return fmt.Errorf("the car supports none of the PIDs %s", *pidList)
	}

	modes := []struct {
		name   string
		pack   int
		suffix bool
	}{{"one PID per request", 1, false}, {"one PID per request + count digit", 1, true}, {"packed (up to 6) + count digit", obd.MaxPack, true}}
	var results []benchResult
	for _, m := range modes {
		if a.ELM != nil {
			a.ELM.SetCountSuffix(m.suffix)
		}
		ct := &countingTransport{Transport: a.Transport}
		c := obd.NewClient(ct, obd.WithPacking(m.pack))
		if _, err := c.SupportedPIDs(ctx); err != nil { // discovery is not measured
			return err
		}
		r := benchResult{Mode: m.name}
		start := time.Now()
		for time.Since(start) < *dur {
			before := ct.n
			rs, err := c.Read(ctx, use...)
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if err != nil {
				r.Errors++
			}
			r.PIDs += len(rs)
			r.Requests += ct.n - before
		}
		r.Seconds = time.Since(start).Seconds()
		r.PIDsPerSec = float64(r.PIDs) / r.Seconds
		if r.Requests > 0 {
			r.MsPerRecord = 1000 * r.Seconds / float64(r.Requests)
		}
		if m.pack > 1 && !c.Packing() {
			r.Note = "packed requests refused; fell back to one PID per request"
		}
		if m.suffix && a.ELM != nil && !a.ELM.Info().CountSuffix {
			r.Note = strings.TrimPrefix(r.Note+"; count digit not supported", "; ")
		}
		results = append(results, r)
	}
	out := map[string]any{"adapter": a.Describe(), "pids": use, "results": results}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	fmt.Fprintf(stdout, "Adapter %v, polling %d PIDs %v for %v per mode\n\n", a.Describe()["identity"], len(use), use, *dur)
	tw := tabwriter.NewWriter(stdout, 0, 2, 2, ' ', 0)
	fmt.Fprintln(tw, "mode\tPIDs/s\trequests\tms/request\terrors")
	for _, r := range results {
		fmt.Fprintf(tw, "%s\t%.1f\t%d\t%.1f\t%d\n", r.Mode, r.PIDsPerSec, r.Requests, r.MsPerRecord, r.Errors)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, r := range results {
		if r.Note != "" {
			fmt.Fprintf(stdout, "\n%s: %s", r.Mode, r.Note)
		}
	}
	fmt.Fprintln(stdout)
	return nil
}

// countingTransport counts the requests a benchmark makes.
type countingTransport struct {
	obd.Transport
	n int
}

func (t *countingTransport) Do(ctx context.Context, req obd.Request) ([]obd.Response, error) {
	t.n++
	return t.Transport.Do(ctx, req)
}

func (t *countingTransport) Protocol() obd.Protocol {
	if r, ok := t.Transport.(obd.ProtocolReporter); ok {
		return r.Protocol()
	}
	return obd.ProtocolUnknown
}

// benchAgent measures the agent's own poller: one tier at the top rate, so
// it reads as fast as adapter and car allow, into a throwaway spool.
func benchAgent(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("bench agent", "--adapter URL [--duration D] [--pids LIST] [--json]",
		"Runs the agent's poller (packing, count digit, rate cap, lifecycle) as fast as the adapter allows\n"+
			"on one tier of PIDs, without a broker, and reports PIDs per second.", stdout)
	url := fs.String("adapter", "", "adapter URL (see pitwall help)")
	dur := fs.Duration("duration", 20*time.Second, "how long to measure")
	pidList := fs.String("pids", "0C,0D,11,04,05,0F", "comma-separated PIDs of the tier")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *url == "" {
		return usageError{"--adapter is required"}
	}
	dir, err := os.MkdirTemp("", "pitwall-bench-spool")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	cfg := edge.Config{DeviceID: "bench", Adapter: *url, Broker: edge.BrokerConfig{URL: "tcp://127.0.0.1:1"}, Spool: edge.SpoolConfig{Dir: dir},
		Poll: edge.PollConfig{Tiers: []edge.TierConfig{{Hz: 50, PIDs: strings.Split(*pidList, ",")}}, MaxRequestsPerSecond: 100}}
	a, err := edge.New(cfg)
	if err != nil {
		return err
	}
	// The first seconds open the adapter, search the bus and learn the car.
	runCtx, cancel := context.WithTimeout(ctx, *dur+5*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- a.RunOffline(runCtx) }()
	select {
	case <-time.After(5 * time.Second):
	case err := <-done:
		return err
	}
	r0, p0 := a.Counters()
	start := time.Now()
	<-runCtx.Done()
	r1, p1 := a.Counters()
	secs := time.Since(start).Seconds()
	<-done
	res := map[string]any{"seconds": secs, "requests": r1 - r0, "pids": p1 - p0, "pids_per_second": (p1 - p0) / secs, "requests_per_second": (r1 - r0) / secs}
	if *asJSON {
		return json.NewEncoder(stdout).Encode(res)
	}
	fmt.Fprintf(stdout, "agent poller: %.1f PIDs/s, %.1f requests/s over %.0f s\n", res["pids_per_second"], res["requests_per_second"], secs)
	return nil
}
