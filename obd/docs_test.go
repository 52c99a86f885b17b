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
	b.WriteString("\n## One value per signal\n\n")
	b.WriteString("Several ECUs often answer the same PID (engine and transmission both report vehicle speed and\n")
	b.WriteString("engine speed; every module reports PID 01). A signal carries one value per instant, chosen in a\n")
	b.WriteString("documented order (`obd.CompareECUs`): the engine ECU first (7E8 on 11-bit CAN, 18DAF110 on 29-bit, source\n")
	b.WriteString("address 10 on the older protocols), then the others by address. The first other ECU whose value\n")
	b.WriteString("differs meaningfully (by more than one step of the PID's resolution; for bit fields, by anything) is\n")
	b.WriteString("kept under the signal's secondary name, `Vehicle.OBD.Secondary.` and the signal's path after `Vehicle.`\n")
	b.WriteString("(`Vehicle.Speed` → `Vehicle.OBD.Secondary.Speed`, `Vehicle.OBD.Status.IsMILOn` →\n")
	b.WriteString("`Vehicle.OBD.Secondary.OBD.Status.IsMILOn`), in the same unit and resolution; values that only repeat\n")
	b.WriteString("the first are not sent. A secondary signal without a value at an instant means the other modules\n")
	b.WriteString("agreed with the first. Every signal of the table above has a secondary name.\n")
	b.WriteString("\n## Service 06 signals\n\n")
	b.WriteString("The misfire monitors' counts (service 06, MIDs A1–AD, docs/obd.md) are sent as signals too, in counts:\n")
	b.WriteString("`Count` is this driving cycle's (or the last one's, until the current one has counted), `AverageCount`\n")
	b.WriteString("the exponentially weighted average of the last ten driving cycles. The other monitors' results travel\n")
	b.WriteString("in the trouble-code report (docs/mqtt.md).\n\n")
	b.WriteString("| MID | monitor | signals |\n|---|---|---|\n")
	for m := MIDMisfire; m <= 0xAD; m++ {
		name, _ := monitorName(m)
		fmt.Fprintf(&b, "| %s | %s | `%s`, `%s` |\n", m, name, MonitorSignal(m, TIDMisfireCount), MonitorSignal(m, TIDMisfireAverage))
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
