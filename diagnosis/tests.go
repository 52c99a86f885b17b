package diagnosis

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// TestResult is one on-board monitor test result (service 06) as the car
// reported it: the test value, its limits, and whether it passed.
type TestResult struct {
	ECU     string  `json:"ecu,omitempty"`
	MID     uint8   `json:"mid"` // J1979 appendix D
	TID     uint8   `json:"tid"`
	Monitor string  `json:"monitor"` // e.g. "misfire cylinder 3"
	Test    string  `json:"test"`
	Signal  string  `json:"signal,omitempty"`
	Value   float64 `json:"value"`
	Min     float64 `json:"min"`
	Max     float64 `json:"max"`
	Unit    string  `json:"unit,omitempty"`
	Passed  bool    `json:"passed"`
}

// Misfire monitors and tests (J1979): A1 counts all cylinders, A2 + n − 1
// cylinder n; TID 0B is the ten-drive average, 0C this drive.
const (
	midMisfire      = 0xA1
	midMisfireCyl1  = 0xA2
	midMisfireLast  = 0xAD
	tidMisfireAvg   = 0x0B
	tidMisfireCount = 0x0C
)

// monitorsFor lists the monitors (MIDs) whose tests bear on a code.
func monitorsFor(code string) []uint8 {
	if len(code) != 5 || code[0] != 'P' {
		return nil
	}
	n, err := strconv.Atoi(code[1:])
	if err != nil {
		return nil
	}
	// O2 sensors: six codes per sensor from P0130, banks 1 and 2, sensors
	// 1 to 3; the sixth of each is the heater's.
	o2 := func(n int) []uint8 {
		i := (n - 130) / 6
		bank, sensor := i/3, i%3
		mid := uint8(0x01 + bank*4 + sensor)
		if (n-130)%6 == 5 {
			return []uint8{mid, mid + 0x40}
		}
		return []uint8{mid}
	}
	switch {
	case n == 300:
		out := []uint8{midMisfire}
		for m := uint8(midMisfireCyl1); m <= midMisfireLast; m++ {
			out = append(out, m)
		}
		return out
	case n >= 301 && n <= 312:
		return []uint8{midMisfire, uint8(midMisfireCyl1 + n - 301)}
	case n >= 420 && n <= 424:
		return []uint8{0x21}
	case n >= 430 && n <= 434:
		return []uint8{0x22}
	case n >= 130 && n <= 147, n >= 150 && n <= 167:
		return o2(n)
	case n >= 400 && n <= 409:
		return []uint8{0x31, 0x32}
	case n >= 410 && n <= 419:
		return []uint8{0x71, 0x72}
	case n >= 440 && n <= 457:
		return []uint8{0x39, 0x3A, 0x3B, 0x3C, 0x3D}
	case n == 171 || n == 172:
		return []uint8{0x81}
	case n == 174 || n == 175:
		return []uint8{0x82}
	case n >= 10 && n <= 25:
		return []uint8{0x35, 0x36}
	}
	return nil
}

// attachTests puts beside each code the results of the monitors that test
// it, and returns what the results say that the codes do not: a failed
// test without a code, and a cylinder whose misfires build up before the
// engine has set a code for it.
func attachTests(r *Report, tests []TestResult) []string {
	r.Tests = tests
	covered := map[uint8]bool{}
	for i := range r.Codes {
		f := &r.Codes[i]
		mids := monitorsFor(f.Code)
		for _, t := range tests {
			if slices.Contains(mids, t.MID) {
				f.Tests = append(f.Tests, t)
				covered[t.MID] = true
			}
		}
	}
	var out []string
	for _, t := range tests {
		if !t.Passed && !covered[t.MID] {
			out = append(out, fmt.Sprintf("The %s monitor fails its test (%s): %s against limits of %s to %s, though the car has set no code for it yet.",
				t.Monitor, t.Test, valueUnit(t.Value, t.Unit), number(t.Min), number(t.Max)))
		}
	}
	// Misfires counted on a cylinder the codes do not name.
	avg, now := map[uint8]float64{}, map[uint8]float64{}
	for _, t := range tests {
		if t.MID >= midMisfireCyl1 && t.MID <= midMisfireLast && !covered[t.MID] {
			switch t.TID {
			case tidMisfireAvg:
				avg[t.MID] = t.Value
			case tidMisfireCount:
				now[t.MID] = t.Value
			}
		}
	}
	for m := uint8(midMisfireCyl1); m <= midMisfireLast; m++ {
		if a, ok := avg[m]; ok && a >= 10 {
			trend := "steady"
			if now[m] > a {
				trend = "rising"
			}
			out = append(out, fmt.Sprintf("Cylinder %d's misfire monitor counts %.0f misfires this drive and %.0f on average over the last ten (%s), with no misfire code yet: its spark plug, coil or injector is the place to look.",
				int(m-midMisfireCyl1)+1, now[m], a, trend))
		}
	}
	return out
}

func valueUnit(v float64, unit string) string { return strings.TrimSpace(number(v) + " " + unit) }

// number prints a value without needless decimals.
func number(v float64) string { return strconv.FormatFloat(round(v), 'f', -1, 64) }
