package obd_test

import (
	"encoding/hex"
	"errors"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/pitwall-io/pitwall/obd"
	"github.com/pitwall-io/pitwall/obd/obdtest"
)

// One table of bytes and what they mean serves the decoder and the encoder.
var testResultCases = []struct {
	name string
	hex  string
	want []obd.TestResult // ECU, MID, TID, scaling, value, min, max, unit, passed, signal
}{
	{"o2 sensor thresholds and period", "46 01 01 0A 0E 66 0E 66 0E 66 01 0A 10 03 90 00 00 06 40", []obd.TestResult{
		{MID: 0x01, TID: 0x01, UnitScaling: 0x0A, Value: 0.449692, Min: 0.449692, Max: 0.449692, Unit: "V", Passed: true,
			Signal: "Vehicle.OBD.Monitor.O2.Bank1.Sensor1.RichToLeanThreshold", Monitor: "oxygen sensor bank 1 sensor 1", Test: "rich to lean threshold voltage"},
		{MID: 0x01, TID: 0x0A, UnitScaling: 0x10, Value: 912, Min: 0, Max: 1600, Unit: "ms", Passed: true,
			Signal: "Vehicle.OBD.Monitor.O2.Bank1.Sensor1.Period", Monitor: "oxygen sensor bank 1 sensor 1", Test: "sensor period"},
	}},
	{"misfire counts of cylinder 3", "46 A4 0B 24 00 2A 00 00 FF FF A4 0C 24 01 F4 00 00 FF FF", []obd.TestResult{
		{MID: 0xA4, TID: 0x0B, UnitScaling: 0x24, Value: 42, Min: 0, Max: 65535, Unit: "count", Passed: true,
			Signal: "Vehicle.OBD.Monitor.Misfire.Cylinder3.AverageCount", Monitor: "misfire cylinder 3", Test: "misfire count, average of the last 10 driving cycles"},
		{MID: 0xA4, TID: 0x0C, UnitScaling: 0x24, Value: 500, Min: 0, Max: 65535, Unit: "count", Passed: true,
			Signal: "Vehicle.OBD.Monitor.Misfire.Cylinder3.Count", Monitor: "misfire cylinder 3", Test: "misfire count, this or the last driving cycle"},
	}},
	{"catalyst over its limit", "46 21 80 20 00 B3 00 00 00 9A", []obd.TestResult{
		{MID: 0x21, TID: 0x80, UnitScaling: 0x20, Value: 0.699219, Min: 0, Max: 0.601563, Unit: "ratio", Passed: false,
			Signal: "Vehicle.OBD.Monitor.Catalyst.Bank1.Test80", Monitor: "catalyst bank 1", Test: "manufacturer test 80"},
	}},
	{"signed temperature and an offset", "46 31 81 96 FF 9C FF 38 00 C8 31 82 16 02 58 01 90 03 E8", []obd.TestResult{
		{MID: 0x31, TID: 0x81, UnitScaling: 0x96, Value: -10, Min: -20, Max: 20, Unit: "celsius", Passed: true,
			Signal: "Vehicle.OBD.Monitor.EGR.Bank1.Test81", Monitor: "EGR bank 1", Test: "manufacturer test 81"},
		{MID: 0x31, TID: 0x82, UnitScaling: 0x16, Value: 20, Min: 0, Max: 60, Unit: "celsius", Passed: true,
			Signal: "Vehicle.OBD.Monitor.EGR.Bank1.Test82", Monitor: "EGR bank 1", Test: "manufacturer test 82"},
	}},
}

func TestDecodeTestResults(t *testing.T) {
	for _, c := range testResultCases {
		t.Run(c.name, func(t *testing.T) {
			msg := mustHex(t, c.hex)
			got, err := obd.DecodeTestResults("7E8", msg)
			if err != nil {
				t.Fatal(err)
			}
			for i := range c.want {
				c.want[i].ECU = "7E8"
			}
			if !slices.Equal(got, c.want) {
				t.Fatalf("got  %+v\nwant %+v", got, c.want)
			}
			// The encoder gives the same bytes back.
			var recs []obd.TestRecord
			for _, r := range got {
				recs = append(recs, obd.TestRecord{MID: r.MID, TID: r.TID, UnitScaling: byte(r.UnitScaling), Value: r.Value, Min: r.Min, Max: r.Max})
			}
			enc, err := obd.EncodeTestResults(recs)
			if err != nil || hex.EncodeToString(enc) != hex.EncodeToString(msg) {
				t.Fatalf("encoded % X, %v; want % X", enc, err, msg)
			}
		})
	}
}

func TestDecodeTestResultsRefuses(t *testing.T) {
	for _, bad := range []string{
		"46",                               // no record
		"46 A4 0B 24 00 2A 00 00 FF",       // a short record
		"46 A4 0B 24 00 2A 00 00 FF FF 00", // a stray byte after the records
		"41 A4 0B 24 00 2A 00 00 FF FF",    // not service 06
		"46 00 0B 24 00 2A 00 00 FF FF",    // a map where a monitor should be
		"46 A4 0B 24 00 2A 00 00 FF FF A5 0B 24 00 2A 00 00 FF FF", // two monitors in one answer
	} {
		if _, err := obd.DecodeTestResults("7E8", mustHex(t, bad)); !errors.Is(err, obd.ErrMalformed) {
			t.Errorf("% s: %v, want a malformed reply", bad, err)
		}
	}
	// An unknown scaling id is decoded raw, with a note.
	got, err := obd.DecodeTestResults("7E8", mustHex(t, "46 21 80 7E 00 10 00 00 00 20"))
	if err != nil || len(got) != 1 || got[0].Value != 16 || got[0].Note == "" {
		t.Fatalf("unknown scaling: %+v, %v", got, err)
	}
	if _, err := obd.EncodeTestResults([]obd.TestRecord{{MID: 0x21, TID: 0x80, UnitScaling: 0x7E}}); err == nil {
		t.Error("encoding with an unknown scaling id should fail")
	}
}

// Every scaling in the table turns its raw range into the values J1979
// gives: zero maps to the offset, and the encoder is the decoder's inverse
// at every step it can represent.
func TestUnitScalings(t *testing.T) {
	for id := 0; id < 256; id++ {
		u, ok := obd.LookupUnitScaling(byte(id))
		if !ok {
			continue
		}
		if u.Signed != (id >= 0x80) || u.Scale <= 0 {
			t.Errorf("%02X: %+v", id, u)
		}
		for _, raw := range []uint16{0, 1, 0x7FFF, 0x8000, 0xFFFF} {
			msg := []byte{0x46, 0x21, 0x80, byte(id), byte(raw >> 8), byte(raw), 0, 0, 0xFF, 0xFF}
			got, err := obd.DecodeTestResults("7E8", msg)
			if err != nil {
				t.Fatal(err)
			}
			enc, err := obd.EncodeTestResults([]obd.TestRecord{{MID: 0x21, TID: 0x80, UnitScaling: byte(id), Value: got[0].Value, Min: got[0].Min, Max: got[0].Max}})
			if err != nil || enc[4] != msg[4] || enc[5] != msg[5] {
				t.Errorf("%02X raw %04X: decoded %v, encoded back % X", id, raw, got[0].Value, enc[4:6])
			}
		}
	}
	if u, _ := obd.LookupUnitScaling(0x16); u.Offset != -40 || u.Unit != "celsius" {
		t.Errorf("16: %+v", u)
	}
}

func FuzzDecodeTestResults(f *testing.F) {
	for _, c := range testResultCases {
		f.Add(mustHexF(c.hex))
	}
	f.Add([]byte{0x46, 0x00, 0xC0, 0x00, 0x00, 0x01}) // a map where results were asked
	f.Add([]byte{0x7F, 0x06, 0x12})
	f.Fuzz(func(t *testing.T, msg []byte) {
		got, err := obd.DecodeTestResults("7E8", msg)
		if err != nil {
			if !errors.Is(err, obd.ErrMalformed) {
				t.Fatalf("error %v does not match ErrMalformed", err)
			}
			return
		}
		if len(got) != (len(msg)-1)/9 {
			t.Fatalf("%d results from %d bytes", len(got), len(msg))
		}
		for _, r := range got {
			if math.IsNaN(r.Value) || math.IsInf(r.Value, 0) || r.Passed != (r.Min <= r.Value && r.Value <= r.Max) ||
				!strings.HasPrefix(r.Signal, "Vehicle.OBD.Monitor.") || r.MID != got[0].MID {
				t.Fatalf("result %+v", r)
			}
		}
	})
}

func mustHex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustHexF(s string) []byte {
	b, _ := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	return b
}

// The client reads the maps once, then each monitor; with no map it asks
// the usual monitors, and stops after three silent ones.
func TestMonitorTests(t *testing.T) {
	car := obdtest.SampleCar()
	c := obd.NewClient(car)
	res, err := c.MonitorTests(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 9 || res[0].ECU != "7E8" {
		t.Fatalf("results %+v", res)
	}
	before := len(car.Sent())
	res, err = c.MonitorTests(ctx(t), obd.MisfireMID(2), obd.MisfireMID(3))
	if len(res) != 2 || res[1].Signal != "Vehicle.OBD.Monitor.Misfire.Cylinder2.Count" || res[1].Value != 31 {
		t.Fatalf("cylinder 2: %+v", res)
	}
	// Cylinder 3 is in no map: asked once, reported, not asked again.
	var ue *obd.UnansweredError
	if !errors.As(err, &ue) || ue.Item != "MID A4 (misfire cylinder 3)" {
		t.Fatalf("want MID A4 named as unanswered, got %v", err)
	}
	if got := car.Sent()[before:]; !slices.Equal(got, []string{"06A3", "06A4"}) {
		t.Fatalf("sent %v: the maps are remembered", got)
	}
	if _, err := c.MonitorTests(ctx(t), obd.MisfireMID(3)); err != nil || slices.Contains(car.Sent()[before+2:], "06A4") {
		t.Fatalf("A4 asked again: %v %v", car.Sent(), err)
	}

	// No map: the usual monitors are asked.
	car = obdtest.SampleCar()
	car.ECUs[0].Refuse = map[string]obdtest.Refusal{"0600": obdtest.RefuseSilent}
	res, err = obd.NewClient(car).MonitorTests(ctx(t))
	if len(res) != 9 || !errors.As(err, &ue) || !strings.Contains(err.Error(), "MID 00 (supported-MID map)") {
		t.Fatalf("without a map: %d results, %v", len(res), err)
	}
	// A car that does not do service 06 at all costs the map and three.
	car = obdtest.SampleCar()
	car.ECUs[0].Tests = nil
	c = obd.NewClient(car)
	if _, err := c.MonitorTests(ctx(t)); !errors.Is(err, obd.ErrNoData) {
		t.Fatalf("no service 06: %v", err)
	}
	if got := car.Sent(); !slices.Equal(got, []string{"0600", "06A1", "0621", "0601"}) {
		t.Fatalf("sent %v", got)
	}
	if _, err := c.MonitorTests(ctx(t)); !errors.Is(err, obd.ErrNoData) || len(car.Sent()) != 4 {
		t.Fatalf("asked again: %v %v", car.Sent(), err)
	}
	// Legacy protocols: not asked.
	car = obdtest.SampleCar()
	car.Legacy = true
	if _, err := obd.NewClient(car).MonitorTests(ctx(t)); !errors.Is(err, obd.ErrUnsupported) || len(car.Sent()) != 0 {
		t.Fatalf("legacy: %v, sent %v", err, car.Sent())
	}
}
