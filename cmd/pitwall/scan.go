package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/pitwall-io/pitwall/obd"
	"github.com/pitwall-io/pitwall/obd/adapter"
)

func runScan(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("scan", "--adapter URL [--json] [--timeout D]",
		"Reads the protocol, VIN, ECUs, supported PIDs and a value for each, stored, pending and\n"+
			"permanent trouble codes, the freeze frame, the on-board monitors' test results (CAN),\n"+
			"MIL and readiness, and the battery voltage.\n"+
			"Nothing is written to the car.", stdout)
	url := fs.String("adapter", "", "adapter URL: serial:///dev/ttyUSB0[?baud=38400], tcp://HOST:PORT or socketcan://can0")
	asJSON := fs.Bool("json", false, "print one JSON object instead of a report")
	timeout := fs.Duration("timeout", 2*time.Minute, "give up on the whole scan after this long")
	verbose := fs.Bool("v", false, "log every exchange with the adapter to stderr")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *url == "" {
		return usageError{"--adapter is required"}
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	a, err := adapter.Open(ctx, *url, adapter.WithLogger(logger(stderr, *verbose)))
	if err != nil {
		return err
	}
	defer a.Close()
	report, err := obd.Scan(ctx, obd.NewClient(a.Transport))
	if err != nil {
		return err
	}
	report.Adapter = a.Describe()
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(report)
	}
	writeReport(stdout, report)
	return nil
}

func logger(w io.Writer, verbose bool) *slog.Logger {
	lvl := slog.LevelWarn
	if verbose {
		lvl = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: lvl}))
}

// units as people write them.
var unitText = map[string]string{"celsius": "°C", "percent": "%", "degrees": "°", "ratio": ""}

func showUnit(u string) string {
	if t, ok := unitText[u]; ok {
		return t
	}
	return u
}

// number shows a value to two decimals at most; the JSON keeps them all.
func number(v float64) string {
	s := strconv.FormatFloat(v, 'f', 2, 64)
	s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	if s == "-0" {
		s = "0"
	}
	return s
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

// words turns keys like evaporative_system into words.
func words(keys []string) string {
	return strings.ReplaceAll(strings.Join(keys, ", "), "_", " ")
}

// showValue renders a scan value for a person.
func showValue(v obd.ScanValue) string {
	switch x := v.Value.(type) {
	case float64:
		return strings.TrimSpace(number(x) + " " + showUnit(v.Unit))
	case string:
		return "raw " + x
	}
	if len(v.Signals) > 1 || len(v.Signals) == 1 && v.Value != nil {
		var parts []string
		for _, m := range v.Signals {
			parts = append(parts, strings.TrimSpace(strings.ReplaceAll(m.Key, "_", " ")+" "+number(m.Value)+" "+showUnit(m.Unit)))
		}
		if d, ok := v.Value.(map[string]float64); ok && len(d) == len(v.Signals) {
			return strings.Join(parts, ", ")
		}
		if s := detailText(v.Value); s != "" {
			return s
		}
		return strings.Join(parts, ", ")
	}
	if s := detailText(v.Value); s != "" {
		return s
	}
	return "no sensor reported"
}

func detailText(d any) string {
	switch x := d.(type) {
	case *obd.MonitorStatus:
		mil := "off"
		if x.MIL {
			mil = "on"
		}
		s := fmt.Sprintf("MIL %s, %s, %s ignition", mil, plural(x.DTCCount, "code", "codes"), x.Ignition)
		if inc := x.Incomplete(); len(inc) > 0 {
			s += ", incomplete: " + words(inc)
		}
		return s
	case obd.FuelSystemStatus:
		if x.System2 != "" {
			return x.System1 + "; system 2: " + x.System2
		}
		return x.System1
	case obd.Enum:
		return fmt.Sprintf("%s (%d)", x.Name, x.Code)
	case obd.Flags:
		if len(x) == 0 {
			return "none"
		}
		return x.String()
	case obd.DTC:
		return x.String()
	case obd.PIDSet:
		return fmt.Sprintf("%d PIDs", x.Len())
	case nil:
		return ""
	}
	b, _ := json.Marshal(d)
	return string(b)
}

func writeReport(w io.Writer, r *obd.ScanReport) {
	tw := tabwriter.NewWriter(w, 0, 2, 2, ' ', 0)
	defer tw.Flush()
	p := func(format string, a ...any) { fmt.Fprintf(tw, format+"\n", a...) }

	if d, ok := r.Adapter.(map[string]any); ok {
		line := fmt.Sprint(d["url"])
		if id, ok := d["identity"]; ok {
			line += fmt.Sprintf(" · %v", id)
			if d["clone"] == true {
				line += " (clone)"
			}
			if b, ok := d["baud"]; ok {
				line += fmt.Sprintf(" · %v baud", b)
			}
		}
		p("Adapter\t%s", line)
		if q, ok := d["quirks"].([]string); ok {
			for _, s := range q {
				p("\t  worked around: %s", s)
			}
		}
	}
	p("Protocol\t%s", r.Protocol)
	vin := r.VIN
	switch {
	case vin == "":
		vin = "not reported"
	case r.VINCheck != nil && !r.VINCheck.Valid:
		vin += " (not a valid VIN: " + r.VINCheck.Problem + ")"
	case r.VINCheck != nil && r.VINCheck.CheckDigit:
		vin += " (check digit valid)"
	case r.VINCheck != nil:
		vin += " (check digit does not match; fine outside North America)"
	}
	p("VIN\t%s", vin)
	if r.BatteryVoltage != nil {
		src := "measured by the adapter"
		if r.VoltageSource == "ecu" {
			src = "control module voltage, PID 42"
		}
		p("Battery\t%.1f V (%s)", *r.BatteryVoltage, src)
	}
	mil := "off"
	if r.MIL {
		mil = "ON"
	}
	p("MIL\t%s, %s reported", mil, plural(r.DTCCount, "stored code", "stored codes"))
	p("")
	p("ECUs")
	for _, e := range r.ECUs {
		extra := ""
		if len(e.CalibrationIDs) > 0 {
			extra += "  calibration " + strings.Join(e.CalibrationIDs, ", ")
		}
		if len(e.CVNs) > 0 {
			extra += "  CVN " + strings.Join(e.CVNs, ", ")
		}
		p("  %s\t%s\t%d PIDs%s", e.Address, e.Name, len(e.SupportedPIDs), extra)
	}
	p("")
	p("Trouble codes")
	for _, k := range []struct {
		name  string
		codes []obd.ECUCode
	}{{"stored", r.DTCs.Stored}, {"pending", r.DTCs.Pending}, {"permanent", r.DTCs.Permanent}} {
		if len(k.codes) == 0 {
			p("  %s\tnone", k.name)
			continue
		}
		var cs []string
		for _, c := range k.codes {
			cs = append(cs, fmt.Sprintf("%s (%s)", c.Code, c.ECU))
		}
		p("  %s\t%s", k.name, strings.Join(cs, ", "))
	}
	if len(r.MonitorTests) > 0 {
		p("")
		p("Monitor test results (service 06)")
		p("  ECU\tMID/TID\tMonitor\tTest\tValue\tLimits\tResult")
		for _, x := range r.MonitorTests {
			result := "pass"
			if !x.Passed {
				result = "FAIL"
			}
			unit := showUnit(x.Unit)
			p("  %s\t%s/%s\t%s\t%s\t%s\t%s … %s\t%s", x.ECU, x.MID, x.TID, x.Monitor, x.Test,
				strings.TrimSpace(number(x.Value)+" "+unit), number(x.Min), number(x.Max), result)
		}
	}
	for _, f := range r.FreezeFrames {
		p("")
		p("Freeze frame %d from %s, stored for %s", f.Frame, f.ECU, f.DTC)
		for _, v := range f.Values {
			p("  %s\t%s", v.Name, showValue(v))
		}
	}
	for _, rd := range r.Readiness {
		p("")
		state := "ready"
		if !rd.Ready {
			state = "NOT ready"
		}
		p("Readiness of %s (%s ignition): %s", rd.ECU, rd.Ignition, state)
		var done, todo []string
		for _, m := range rd.Monitors {
			switch {
			case !m.Supported:
			case m.Complete:
				done = append(done, m.Name)
			default:
				todo = append(todo, m.Name)
			}
		}
		if len(todo) > 0 {
			p("  incomplete\t%s", words(todo))
		}
		if len(done) > 0 {
			p("  complete\t%s", words(done))
		}
	}
	p("")
	p("Current data")
	p("  PID\tECU\tName\tValue")
	vals := append([]obd.ScanValue(nil), r.Values...)
	sort.SliceStable(vals, func(i, j int) bool { return vals[i].PID < vals[j].PID })
	for _, v := range vals {
		p("  %s\t%s\t%s\t%s", v.PID, v.ECU, v.Name, showValue(v))
	}
	if len(r.Problems) > 0 {
		p("")
		p("Problems during the scan")
		for _, pr := range r.Problems {
			p("  %s\t%s", pr.Step, pr.Error)
		}
	}
}
