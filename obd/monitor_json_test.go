package obd

import (
	"encoding/json"
	"testing"
)

// A report's test results read back from the JSON they were written as.
func TestMonitorIDsRoundTripJSON(t *testing.T) {
	in := struct {
		M MonitorID `json:"m"`
		T TestID    `json:"t"`
		S ScalingID `json:"s"`
	}{MIDMisfireCyl1, TestID(0x0B), ScalingID(0x24)}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	out := in
	out.M, out.T, out.S = 0, 0, 0
	if err := json.Unmarshal(b, &out); err != nil || out != in {
		t.Fatalf("%s read back as %+v: %v", b, out, err)
	}
	if err := json.Unmarshal([]byte(`{"m":"XYZ"}`), &out); err == nil {
		t.Error("a MID that is no hex byte was read")
	}
}
