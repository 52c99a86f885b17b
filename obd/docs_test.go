package obd

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"
)

var updateDocs = flag.Bool("update-docs", false, "rewrite docs/signals.md from the PID table")

// docs/signals.md is generated from the PID table; this fails when they
// drift apart.
func TestSignalsDoc(t *testing.T) {
	var b strings.Builder
	b.WriteString("# Signals\n\n")
	b.WriteString("Generated from the PID table in `obd/pidtable.go` by `go test ./obd -run TestSignalsDoc -update-docs`; do not edit by hand.\n\n")
	b.WriteString("Every quantity Pitwall reads from service 01 has a signal name. Names marked **VSS** are COVESA VSS\n")
	b.WriteString("paths as VSS 5.1 defines them (the last release with the `Vehicle.OBD` branch; the main-tree paths\n")
	b.WriteString("also exist in VSS 6). The others are Pitwall's overlay, named in the same style under `Vehicle.OBD`;\n")
	b.WriteString("a VSS 6 databroker needs them loaded as an overlay. Values are physical, in the unit shown.\n\n")
	b.WriteString("| PID | name | bytes | signal | unit | range | VSS |\n|---|---|---|---|---|---|---|\n")
	for _, p := range pidTable {
		if len(p.Fields) == 0 {
			what := "structured value"
			if p.Bytes == 0 {
				what = "raw bytes"
			}
			fmt.Fprintf(&b, "| %s | %s | %s | — (%s) | | | |\n", p.PID, p.Name, bytesText(p), what)
			continue
		}
		for i, f := range p.Fields {
			name, bytes := "", ""
			if i == 0 {
				name, bytes = p.Name, bytesText(p)
			}
			vss := ""
			if f.VSS {
				vss = "VSS"
			}
			fmt.Fprintf(&b, "| %s | %s | %s | `%s` | %s | %g … %g | %s |\n", p.PID, name, bytes, f.Signal, f.Unit, f.Min, f.Max, vss)
		}
	}
	b.WriteString("\n## Notes\n\n")
	for _, p := range pidTable {
		if p.Note != "" && p.Note != "not defined by J1979; raw bytes are reported" {
			fmt.Fprintf(&b, "- **%s** %s: %s.\n", p.PID, p.Name, p.Note)
		}
	}
	const path = "../docs/signals.md"
	if *updateDocs {
		if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	have, err := os.ReadFile(path)
	if err != nil || string(have) != b.String() {
		t.Fatalf("%s is out of date with the PID table; run go test ./obd -run TestSignalsDoc -update-docs", path)
	}
}

func bytesText(p PIDInfo) string {
	if p.Bytes == 0 {
		return "?"
	}
	s := fmt.Sprint(p.Bytes)
	for _, a := range p.AltBytes {
		s += fmt.Sprintf(" or %d", a)
	}
	return s
}
