package diagnosis

import (
	"fmt"
	"strings"
)

// Text renders a report for a terminal, an email or a shop's printer.
func (r Report) Text() string {
	var b strings.Builder
	name := strings.TrimSpace(fmt.Sprintf("%d %s %s", r.Vehicle.Year, r.Vehicle.Make, r.Vehicle.Model))
	if r.Vehicle.Year == 0 {
		name = strings.TrimSpace(r.Vehicle.Make + " " + r.Vehicle.Model)
	}
	if r.Vehicle.Name != "" {
		name = strings.TrimSpace(r.Vehicle.Name + " (" + name + ")")
	}
	fmt.Fprintf(&b, "PRE-DIAGNOSIS  %s\n", strings.TrimSuffix(name, " ()"))
	fmt.Fprintf(&b, "written %s\n", r.At.Format("2006-01-02 15:04 MST"))
	switch {
	case r.VIN != nil:
		fmt.Fprintf(&b, "VIN %s: %s, model year %d, built in %s", r.VIN.VIN, or(r.VIN.Manufacturer, "maker not in table"), r.VIN.ModelYear, r.VIN.Region)
		if r.VIN.YearNote != "" {
			fmt.Fprintf(&b, " (year: %s)", r.VIN.YearNote)
		}
		b.WriteString("\n")
	case r.VINError != "":
		fmt.Fprintf(&b, "VIN: %s\n", r.VINError)
	}
	if r.OdometerKm > 0 {
		fmt.Fprintf(&b, "odometer %.0f km", r.OdometerKm)
		if r.DistanceWithMILKm > 0 {
			fmt.Fprintf(&b, ", %.0f km driven with the warning light on", r.DistanceWithMILKm)
		}
		b.WriteString("\n")
	}
	lamp := "off"
	if r.MIL {
		lamp = "ON"
	}
	fmt.Fprintf(&b, "warning light %s; safe to drive: %s\n\n", lamp, r.Safe)
	fmt.Fprintf(&b, "SUMMARY\n%s\n", wrap(r.Summary, 78, ""))
	if r.Price.Currency != "" {
		fmt.Fprintf(&b, "Fair price for the most likely fixes: %s\n", r.Price)
	}
	if len(r.Findings) > 0 {
		b.WriteString("\nFROM THE CAR'S DATA\n")
		for _, f := range r.Findings {
			fmt.Fprintf(&b, "- %s\n", wrap(f, 76, "  "))
		}
	}
	for _, f := range r.Symptoms {
		fmt.Fprintf(&b, "\nSEEN IN THE LIVE DATA: %s (%s), since %s\n", f.Title, f.Severity, f.Since.Format("2006-01-02 15:04 MST"))
		fmt.Fprintf(&b, "%s\n", wrap(f.Meaning, 78, ""))
		if f.Observed != "" {
			fmt.Fprintf(&b, "%s\n", wrap("Rule "+f.Rule+": "+f.Observed, 78, ""))
		}
		causesText(&b, f)
	}
	for _, f := range r.Codes {
		fmt.Fprintf(&b, "\nCODE %s (%s, %s)\n", f.Code, strings.Join(f.Statuses, ", "), f.Severity)
		fmt.Fprintf(&b, "%s\n", wrap(f.Meaning, 78, ""))
		causesText(&b, f)
		for _, t := range f.Tests {
			result := "pass"
			if !t.Passed {
				result = "FAIL"
			}
			fmt.Fprintf(&b, "  monitor %s, %s: %s (limits %s to %s) %s\n", t.Monitor, t.Test, valueUnit(t.Value, t.Unit), number(t.Min), number(t.Max), result)
		}
		if f.Freeze != nil {
			b.WriteString("  freeze frame:")
			for _, v := range f.Freeze.Values {
				label := v.Signal
				if info, ok := signalInfo[v.Signal]; ok {
					label = strings.ToLower(info[0])
				}
				fmt.Fprintf(&b, " %s %.1f %s;", label, v.Value, v.Unit)
			}
			b.WriteString("\n")
		}
	}
	if failed := failedTests(r.Tests); len(failed) > 0 {
		b.WriteString("\nMONITOR TESTS FAILED\n")
		for _, t := range failed {
			fmt.Fprintf(&b, "- %s, %s: %s (limits %s to %s)\n", t.Monitor, t.Test, valueUnit(t.Value, t.Unit), number(t.Min), number(t.Max))
		}
	}
	b.WriteString("\nREADINESS\n")
	switch {
	case !r.Readiness.Known:
		b.WriteString("not reported\n")
	case r.Readiness.Ready:
		b.WriteString("all supported monitors complete: ready for an emissions inspection\n")
	default:
		fmt.Fprintf(&b, "not ready: %s incomplete\n", strings.Join(r.Readiness.Incomplete, ", "))
	}
	if len(r.History) > 0 {
		b.WriteString("\nLAST DRIVE\n")
		for _, h := range r.History {
			fmt.Fprintf(&b, "%-32s min %7.1f  mean %7.1f  max %7.1f  last %7.1f %s\n", h.Label, h.Min, h.Mean, h.Max, h.Last, h.Unit)
		}
	}
	fmt.Fprintf(&b, "\n%s\n", wrap(r.Notice, 78, ""))
	return b.String()
}

// causesText writes a finding's drive guidance and its likely causes.
func causesText(b *strings.Builder, f Finding) {
	fmt.Fprintf(b, "%s\n", wrap("Safe to drive: "+f.Safe+". "+f.Guidance, 78, ""))
	for i, c := range f.Causes {
		fmt.Fprintf(b, "  %d. %s\n     fix: %s, %s\n", i+1, c.Cause, lowerFirst(c.Repair.Name), c.Repair.Total)
		if c.Evidence != "" {
			fmt.Fprintf(b, "     why first: %s\n", wrap(c.Evidence, 66, "     "))
		}
	}
}

func failedTests(ts []TestResult) []TestResult {
	var out []TestResult
	for _, t := range ts {
		if !t.Passed {
			out = append(out, t)
		}
	}
	return out
}

func or(s, alt string) string {
	if s == "" {
		return alt
	}
	return s
}

// wrap breaks text at spaces to lines of at most width, indenting the
// continuation lines.
func wrap(s string, width int, indent string) string {
	var b strings.Builder
	n := 0
	for i, w := range strings.Fields(s) {
		if i > 0 && n+1+len(w) > width {
			b.WriteString("\n" + indent)
			n = len(indent)
		} else if i > 0 {
			b.WriteByte(' ')
			n++
		}
		b.WriteString(w)
		n += len(w)
	}
	return b.String()
}
