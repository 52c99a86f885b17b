package diagnosis

import (
	"strings"
	"testing"
	"time"
)

// A bank-2 lean code is weighed on bank 2's trims, not bank 1's.
func TestTrimsOfTheCodesBank(t *testing.T) {
	kb, err := Builtin()
	if err != nil {
		t.Fatal(err)
	}
	base := time.Date(2026, 5, 1, 8, 0, 0, 0, time.UTC)
	hist := map[string][]Sample{}
	for i := 0; i < 600; i++ {
		at := base.Add(time.Duration(i) * time.Second)
		idle := i < 300
		rpm, speed, trim := 2500.0, 80.0, 4.0
		if idle {
			rpm, speed, trim = 750, 0, 22
		}
		for sig, v := range map[string]float64{SigRPM: rpm, SigSpeed: speed, SigSTFT2: trim / 2, SigLTFT2: trim / 2, SigSTFT1: 1, SigLTFT1: 1} {
			hist[sig] = append(hist[sig], Sample{Time: at, Value: v})
		}
	}
	r, err := kb.Build(Input{At: base.Add(time.Hour), Codes: []CodeState{{Code: "P0174", Status: "stored"}}, History: hist}, DefaultPricing())
	if err != nil {
		t.Fatal(err)
	}
	top := r.Codes[0].Causes[0]
	if top.Repair.ID != "smoke-test" || !strings.Contains(top.Evidence, "bank 2 fuel trim +22.0 % at idle, +4.0 %") {
		t.Errorf("P0174's most likely cause %+v", top)
	}
}
