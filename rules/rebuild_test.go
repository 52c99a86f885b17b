package rules

import (
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

// moment is one instant of a stream: values, a report or an event.
type moment struct {
	at      time.Time
	samples []Sample
	codes   *Codes
	event   *Event
}

// stream orders moments as a replay does: by time, then values, codes,
// events.
func stream(ms []moment) []moment {
	order := func(m moment) int {
		switch {
		case m.codes != nil:
			return 1
		case m.event != nil:
			return 2
		}
		return 0
	}
	sort.SliceStable(ms, func(i, j int) bool {
		if !ms[i].at.Equal(ms[j].at) {
			return ms[i].at.Before(ms[j].at)
		}
		return order(ms[i]) < order(ms[j])
	})
	return ms
}

// feed gives an engine moments, returning each alert with the index of
// the moment that produced it.
func feed(e *Engine, dev, veh string, ms []moment, first int) (alerts []Alert, at []int) {
	for i, m := range ms {
		var got []Alert
		switch {
		case m.samples != nil:
			got = e.Samples(dev, veh, m.samples)
		case m.codes != nil:
			got = e.Codes(dev, veh, *m.codes)
		case m.event != nil:
			got = e.Event(dev, veh, *m.event)
		}
		for _, a := range got {
			alerts, at = append(alerts, a), append(at, first+i)
		}
	}
	return alerts, at
}

// historyOf is what the stores hold after moment cut: the series and
// messages as of cut, the alerts as of moment told (alerts of later
// moments were never stored), replayed from horizon+extra before the
// newest instant.
func historyOf(ms []moment, alerts []Alert, at []int, cut, told int, replay time.Duration) History {
	h := History{Until: ms[cut].at}
	h.From = h.Until.Add(-replay)
	before := map[string]Sample{}
	var lastCodes *Codes
	for _, m := range ms[:cut+1] {
		switch {
		case m.samples != nil:
			for _, s := range m.samples {
				if s.Time.Before(h.From) {
					before[s.Signal] = s
				} else {
					h.Samples = append(h.Samples, s)
				}
			}
		case m.codes != nil:
			if m.at.Before(h.From) {
				lastCodes = m.codes
			} else {
				h.Codes = append(h.Codes, *m.codes)
			}
		case m.event != nil:
			if !m.at.Before(h.From) {
				h.Events = append(h.Events, *m.event)
			}
		}
	}
	for _, s := range before {
		h.Before = append(h.Before, s)
	}
	if lastCodes != nil {
		h.Codes = append(h.Codes, *lastCodes)
	}
	// The store keeps one row per alert: the latest state wins.
	rows := map[string]Alert{}
	for i, a := range alerts {
		if at[i] <= told {
			rows[a.Rule] = a
		}
	}
	for _, a := range rows {
		h.Alerts = append(h.Alerts, a)
	}
	return h
}

func describe(as []Alert, start time.Time) []string {
	var out []string
	for _, a := range as {
		s := fmt.Sprintf("%s %s from %v", a.Rule, a.State, a.StartsAt.Sub(start))
		if !a.EndsAt.IsZero() {
			s += fmt.Sprintf(" to %v", a.EndsAt.Sub(start))
		}
		s += " " + a.Summary
		keys := make([]string, 0, len(a.Values))
		for k := range a.Values {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			s += fmt.Sprintf(" %s=%.6g", k, a.Values[k])
		}
		out = append(out, s)
	}
	return out
}

// checkRebuild cuts a stream after each moment in turn (the server that
// saw it dies) with the alerts stored up to lag moments earlier, rebuilds
// a second engine from what the stores hold and feeds it the rest. What
// the rebuild finds and what follows must be what an engine that saw the
// whole stream says from the last stored alert on; and at every later
// instant each window must answer as that engine's does.
func checkRebuild(t *testing.T, set *Set, ms []moment, lags []int, windows map[string][]string) {
	t.Helper()
	const dev, veh = "car-1", "veh-1"
	whole := NewEngine(set)
	all, at := feed(whole, dev, veh, ms, 0)
	start := ms[0].at
	every := max(1, len(ms)/60) // some sixty cuts a stream
	for cut := 0; cut < len(ms)-1; cut += every {
		type run struct {
			lag         int
			next        *Engine
			rest        []Alert
			want, after []Alert
		}
		var runs []*run
		for _, lag := range lags {
			told := cut - lag
			if told < 0 {
				continue
			}
			// Replay from the horizon before the last stored alert's
			// moment: a rebuild catches up on what was not stored.
			replay := whole.Horizon() + ms[cut].at.Sub(ms[told].at) + time.Second
			h := historyOf(ms, all, at, cut, told, replay)
			r := &run{lag: lag, next: NewEngine(set)}
			for i, a := range all {
				switch {
				case at[i] > told && at[i] <= cut:
					r.want = append(r.want, a)
				case at[i] > cut:
					r.after = append(r.after, a)
				}
			}
			found := r.next.Rebuild(dev, veh, h)
			if g, w := strings.Join(describe(found, start), "\n"), strings.Join(describe(r.want, start), "\n"); g != w {
				t.Fatalf("cut after %v, alerts stored to %v: the rebuild found\n%s\nwant\n%s", ms[cut].at.Sub(start), ms[told].at.Sub(start), g, w)
			}
			runs = append(runs, r)
		}
		// The reference: an engine as it stood after the cut, fed on.
		ref := NewEngine(set)
		if windows != nil {
			feed(ref, dev, veh, ms[:cut+1], 0)
		}
		for i, m := range ms[cut+1:] {
			for _, r := range runs {
				got, _ := feed(r.next, dev, veh, []moment{m}, 0)
				r.rest = append(r.rest, got...)
			}
			if windows == nil || m.samples == nil {
				continue
			}
			feed(ref, dev, veh, []moment{m}, 0)
			for sig, ws := range windows {
				for _, w := range ws {
					for name, f := range map[string]func([]Sample) float64{"avg": avg, "min": minOf, "max": maxOf, "delta": delta, "rate": rate} {
						a := ref.vehicles[dev].window(sig, w, f)
						for _, r := range runs {
							if b := r.next.vehicles[dev].window(sig, w, f); a != b && !(math.IsNaN(a) && math.IsNaN(b)) {
								t.Fatalf("cut after %v: at %v %s_over(%s, %s) is %v after the rebuild, %v without", ms[cut].at.Sub(start),
									ms[cut+1+i].at.Sub(start), name, sig, w, b, a)
							}
						}
					}
				}
			}
		}
		for _, r := range runs {
			if g, w := strings.Join(describe(r.rest, start), "\n"), strings.Join(describe(r.after, start), "\n"); g != w {
				t.Fatalf("cut after %v, alerts stored %d moments before: after the rebuild\n%s\nwant\n%s", ms[cut].at.Sub(start), r.lag, g, w)
			}
		}
	}
}

// Every golden case, cut after each of its moments: the rebuilt engine
// tells what the whole one tells, nothing twice and nothing less.
func TestRebuildGoldenCases(t *testing.T) {
	dirs, _ := filepath.Glob(filepath.Join("testdata", "*"))
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			set, in := loadCase(t, dir)
			if in.Maintenance != nil {
				t.Skip("the maintenance case reads the last service, not the stream")
			}
			checkRebuild(t, set, goldenMoments(t, in), []int{0, 1, 3}, nil)
		})
	}
}

// goldenMoments is a golden case's input as a stream.
func goldenMoments(t *testing.T, in input) []moment { return stream(expand(t, in)) }

const windowRules = `rules:
  - name: hot-on-average
    severity: critical
    when: avg_over(Vehicle.Powertrain.CombustionEngine.EngineCoolant.Temperature, "40s") > 104
    for: 15s
    clear: avg_over(Vehicle.Powertrain.CombustionEngine.EngineCoolant.Temperature, "40s") < 98
    clear_for: 10s
  - name: climbing
    severity: warning
    when: rate_over(Vehicle.Powertrain.CombustionEngine.EngineCoolant.Temperature, "20s") > 0.4 and delta_over(Vehicle.Powertrain.CombustionEngine.EngineCoolant.Temperature, "20s") > 6
    for: 4s
  - name: stop-and-go
    severity: info
    when: max_over(Vehicle.Speed, "30s") - min_over(Vehicle.Speed, "30s") > 60 and Vehicle.Powertrain.CombustionEngine.Speed > 1500
    for: 8s
  - name: lamp
    severity: warning
    when: mil
  - name: fresh-code
    severity: info
    when: new_code("P0")
`

// Streams made up at random, with irregular sampling, signals that skip
// instants, crossings of every threshold and trouble codes that come and
// go: cut anywhere, a rebuilt engine's windows answer as the whole
// engine's do, and it tells the same alerts.
func TestRebuildRandomStreams(t *testing.T) {
	set, err := Parse("windows.yaml", []byte(windowRules))
	if err != nil {
		t.Fatal(err)
	}
	const ect, speed, rpm = "Vehicle.Powertrain.CombustionEngine.EngineCoolant.Temperature", "Vehicle.Speed", "Vehicle.Powertrain.CombustionEngine.Speed"
	windows := map[string][]string{ect: {"40s", "20s"}, speed: {"30s"}}
	seeds := 8
	if testing.Short() {
		seeds = 2
	}
	for seed := range seeds {
		t.Run(fmt.Sprint("seed-", seed), func(t *testing.T) {
			rnd := rand.New(rand.NewPCG(uint64(seed), 15))
			at := time.Date(2026, 11, 20, 8, 0, 0, 0, time.UTC)
			temp, v := 90.0, 50.0
			var ms []moment
			for range 150 {
				at = at.Add(time.Duration(500+rnd.IntN(2500)) * time.Millisecond)
				// The coolant swings through the thresholds; the speed jumps.
				temp += rnd.NormFloat64()*2 + 0.8*math.Sin(float64(len(ms))/12)*3
				temp = math.Max(70, math.Min(125, temp))
				if rnd.IntN(8) == 0 {
					v = rnd.Float64() * 140
				}
				var ss []Sample
				if rnd.IntN(5) > 0 {
					ss = append(ss, Sample{Signal: ect, Time: at, Value: math.Round(temp*10) / 10})
				}
				if rnd.IntN(4) > 0 {
					ss = append(ss, Sample{Signal: speed, Time: at, Value: math.Round(v)}, Sample{Signal: rpm, Time: at, Value: 800 + 30*v})
				}
				if len(ss) > 0 {
					ms = append(ms, moment{at: at, samples: ss})
				}
				if rnd.IntN(15) == 0 {
					c := Codes{Time: at, MIL: rnd.IntN(2) == 0}
					for _, code := range []string{"P0217", "P0128", "P0301"} {
						if rnd.IntN(2) == 0 {
							c.Stored = append(c.Stored, code)
						}
					}
					ms = append(ms, moment{at: at, codes: &c})
				}
			}
			checkRebuild(t, set, stream(ms), []int{0, 2, 6}, windows)
		})
	}
}
