package diagnosis

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"time"
)

// weigh reads the recent history for evidence that makes one cause more
// likely than the table's order says, moves that cause first with the
// evidence, and returns what it found in plain words.
func weigh(r *Report, hist map[string][]Sample) []string {
	var out []string
	has := func(profiles ...string) []*Finding {
		var fs []*Finding
		for _, list := range [][]Finding{r.Codes, r.Symptoms} {
			for i := range list {
				if slices.Contains(profiles, list[i].Profile) {
					fs = append(fs, &list[i])
				}
			}
		}
		return fs
	}
	note := func(s string) {
		if s != "" {
			out = append(out, s)
		}
	}

	if fs := has("lean", "rich"); len(fs) > 0 {
		// Each bank's codes are weighed on that bank's trims.
		var b1, b2 []*Finding
		for _, f := range fs {
			if strings.Contains(strings.ToLower(f.Meaning), "bank 2") {
				b2 = append(b2, f)
			} else {
				b1 = append(b1, f)
			}
		}
		if len(b1) > 0 {
			note(weighTrims(b1, hist, SigSTFT1, SigLTFT1, ""))
		}
		if len(b2) > 0 {
			note(weighTrims(b2, hist, SigSTFT2, SigLTFT2, "bank 2 "))
		}
	}
	if fs := has("overheat"); len(fs) > 0 {
		note(weighOverheat(fs, hist))
	}
	if fs := has("slow-warm-up"); len(fs) > 0 {
		note(weighWarmUp(fs, hist))
	}
	note(weighVoltage(has("voltage-low", "voltage-high", "charging"), hist))
	if cats, misfires := has("catalyst"), has("misfire"); len(cats) > 0 && len(misfires) > 0 {
		for _, f := range cats {
			promote(f, "inspect", "misfire codes are present too: fix the misfire first, or a new converter will be damaged the same way")
		}
		note("Misfire and catalyst codes together: the misfire is the cause to fix first.")
	} else if len(cats) > 0 {
		note(weighCatalyst(cats, hist))
	}
	return out
}

// promote moves the first cause fixed by repair to the front with its
// evidence, and prices the code by it.
func promote(f *Finding, repair, evidence string) {
	for i, c := range f.Causes {
		if c.Repair.ID == repair {
			c.Evidence = evidence
			f.Causes = slices.Delete(f.Causes, i, i+1)
			f.Causes = slices.Insert(f.Causes, 0, c)
			f.Price = c.Repair.Total
			return
		}
	}
}

// at is a signal's value nearest to t, within 5 s.
func at(xs []Sample, t time.Time) (float64, bool) {
	i := sort.Search(len(xs), func(i int) bool { return !xs[i].Time.Before(t) })
	best, ok, gap := 0.0, false, 5*time.Second
	for _, j := range []int{i - 1, i} {
		if j >= 0 && j < len(xs) {
			if d := xs[j].Time.Sub(t).Abs(); d <= gap {
				best, ok, gap = xs[j].Value, true, d
			}
		}
	}
	return best, ok
}

type stat struct {
	n        int
	sum, max float64
}

func (s *stat) add(x float64) {
	if s.n == 0 || x > s.max {
		s.max = x
	}
	s.n++
	s.sum += x
}
func (s stat) mean() float64 { return s.sum / float64(s.n) }

// weighTrims compares the total fuel trim at idle with the trim under
// load: extra air matters most at idle (a vacuum leak); a fuel supply
// that cannot keep up shows under load; a metering error shows alike.
func weighTrims(fs []*Finding, hist map[string][]Sample, stft, ltft, bank string) string {
	var idle, load stat
	rpm, speed, lt := hist[SigRPM], hist[SigSpeed], hist[ltft]
	for _, s := range hist[stft] {
		r, ok1 := at(rpm, s.Time)
		l, ok2 := at(lt, s.Time)
		if !ok1 || !ok2 || r < 400 {
			continue
		}
		v, _ := at(speed, s.Time)
		switch {
		case r < 1000 && v < 3:
			idle.add(s.Value + l)
		case r > 1800:
			load.add(s.Value + l)
		}
	}
	if idle.n < 5 || load.n < 5 {
		return ""
	}
	lean := fs[0].Profile == "lean"
	i, l := idle.mean(), load.mean()
	seen := fmt.Sprintf("%sfuel trim %+.1f %% at idle, %+.1f %% above 1,800 rpm", bank, i, l)
	switch {
	case lean && i-l > 5:
		for _, f := range fs {
			promote(f, "smoke-test", seen+": the extra air matters most at idle, as a vacuum leak's does")
		}
		return "Fuel trims point at a vacuum leak: " + seen + "."
	case lean && l-i > 5:
		for _, f := range fs {
			promote(f, "replace:fuel-pump", seen+": the mixture goes leaner as demand rises, so the fuel supply is not keeping up")
		}
		return "Fuel trims point at the fuel supply: " + seen + "."
	case lean:
		for _, f := range fs {
			promote(f, "clean-maf", seen+": equally lean at every load, as when the air flow sensor under-reads")
		}
		return "Fuel trims point at air metering: " + seen + "."
	}
	return "Fuel trims: " + seen + "."
}

// weighOverheat asks where the engine got hot: at standstill the fan
// is missing; at speed the coolant, thermostat or pump.
func weighOverheat(fs []*Finding, hist map[string][]Sample) string {
	var stopped, moving stat
	for _, s := range hist[SigCoolant] {
		v, ok := at(hist[SigSpeed], s.Time)
		if !ok {
			continue
		}
		switch {
		case v < 10:
			stopped.add(s.Value)
		case v > 50:
			moving.add(s.Value)
		}
	}
	if stopped.n == 0 && moving.n == 0 {
		return ""
	}
	peak := math.Max(stopped.max, moving.max)
	msg := fmt.Sprintf("Coolant reached %.0f °C on the last drive (a warm engine runs at 85–105 °C)", peak)
	if stopped.n >= 5 && moving.n >= 5 && stopped.max-moving.max > 8 {
		for _, f := range fs {
			promote(f, "replace:cooling-fan", fmt.Sprintf("hottest when stopped (%.0f °C) and cooler at speed (%.0f °C): the radiator gets air only from driving", stopped.max, moving.max))
		}
		return msg + ", hottest when standing still."
	}
	if moving.n >= 5 && moving.max > 110 {
		msg += fmt.Sprintf(", %.0f °C even with air flowing at speed", moving.max)
	}
	return msg + "."
}

// weighWarmUp confirms a thermostat stuck open: a long drive that never
// warms the engine.
func weighWarmUp(fs []*Finding, hist map[string][]Sample) string {
	xs := hist[SigCoolant]
	if len(xs) < 2 {
		return ""
	}
	span := xs[len(xs)-1].Time.Sub(xs[0].Time)
	peak := math.Inf(-1)
	for _, s := range xs {
		peak = math.Max(peak, s.Value)
	}
	if span < 15*time.Minute || peak >= 80 {
		return ""
	}
	ev := fmt.Sprintf("coolant never passed %.0f °C in %.0f minutes of running", peak, span.Minutes())
	for _, f := range fs {
		promote(f, "replace:thermostat", ev)
	}
	return "The engine does not warm up: " + ev + "."
}

// weighVoltage reads the battery at rest, cranking and running.
func weighVoltage(fs []*Finding, hist map[string][]Sample) string {
	var rest, run stat
	crank := math.Inf(1)
	rpm := hist[SigRPM]
	for _, s := range hist[SigBattery] {
		r, ok := at(rpm, s.Time)
		switch {
		case !ok || r == 0:
			rest.add(s.Value)
			if s.Value < 11 {
				crank = math.Min(crank, s.Value) // a dip while the starter turns
			}
		case r < 400:
			crank = math.Min(crank, s.Value)
		default:
			run.add(s.Value)
		}
	}
	switch {
	case run.n >= 5 && run.mean() < 13.0:
		for _, f := range fs {
			promote(f, "replace:alternator", fmt.Sprintf("%.1f V with the engine running, where 13.5–14.7 V is normal", run.mean()))
		}
		return fmt.Sprintf("The alternator is not charging: %.1f V on average with the engine running, where 13.5–14.7 V is normal.", run.mean())
	case rest.n >= 3 && rest.max < 12.2:
		for _, f := range fs {
			promote(f, "replace:battery", fmt.Sprintf("the battery rests at %.2f V at most, where a charged one rests near 12.6 V", rest.max))
		}
		msg := fmt.Sprintf("The battery is weak: it rests at %.2f V at most, where a charged battery rests near 12.6 V", rest.max)
		if crank < 9.6 {
			msg += fmt.Sprintf(", and it fell to %.1f V while cranking, where below 9.6 V the starter struggles", crank)
		}
		return msg + "."
	case run.n >= 5 && run.mean() > 15.0:
		return fmt.Sprintf("Charging voltage is too high: %.1f V on average with the engine running.", run.mean())
	}
	return ""
}

// weighCatalyst compares the oxygen sensors: behind a working converter
// the downstream sensor holds steady while the upstream one switches.
func weighCatalyst(fs []*Finding, hist map[string][]Sample) string {
	swing := func(xs []Sample) (float64, bool) {
		if len(xs) < 20 {
			return 0, false
		}
		lo, hi := math.Inf(1), math.Inf(-1)
		for _, x := range xs {
			lo, hi = math.Min(lo, x.Value), math.Max(hi, x.Value)
		}
		return hi - lo, true
	}
	up, ok1 := swing(hist[SigO2Up])
	down, ok2 := swing(hist[SigO2Down])
	if !ok1 || !ok2 || up < 0.3 {
		return ""
	}
	if down > 0.6*up {
		for _, f := range fs {
			promote(f, "replace:catalytic-converter", fmt.Sprintf("the downstream oxygen sensor swings %.2f V against %.2f V upstream: the converter no longer evens out the exhaust", down, up))
		}
		return fmt.Sprintf("The downstream oxygen sensor swings almost as much as the upstream one (%.2f V against %.2f V): the converter has stopped working.", down, up)
	}
	return ""
}
