package obd

import (
	"bytes"
	"encoding/hex"
	"math"
	"os"
	"slices"
	"strings"
	"testing"
)

// pidVectors is the one table of raw bytes and decoded values that serves
// both the decoder and the encoder tests.
var pidVectors = []struct {
	pid    PID
	hex    string
	want   map[string]float64
	encode bool // Encode(want) must give back exactly hex
}{
	{0x04, "80", map[string]float64{"engine_load": 50.196078}, true},
	{0x05, "7B", map[string]float64{"coolant_temp": 83}, true},
	{0x06, "00", map[string]float64{"bank1": -100}, true},
	{0x06, "8090", map[string]float64{"bank1": 0, "bank3": 12.5}, true},
	{0x0A, "0A", map[string]float64{"fuel_pressure": 30}, true},
	{0x0B, "65", map[string]float64{"intake_manifold_pressure": 101}, true},
	{0x0C, "1AF8", map[string]float64{"engine_speed": 1726}, true},
	{0x0D, "32", map[string]float64{"vehicle_speed": 50}, true},
	{0x0E, "8E", map[string]float64{"timing_advance": 7}, true},
	{0x10, "012C", map[string]float64{"maf": 3}, true},
	{0x11, "FF", map[string]float64{"throttle_position": 100}, true},
	{0x14, "5A80", map[string]float64{"voltage": 0.45, "short_term_fuel_trim": 0}, true},
	{0x14, "5AFF", map[string]float64{"voltage": 0.45}, false}, // FF: the sensor does not trim
	{0x1E, "01", map[string]float64{"pto_active": 1}, true},
	{0x1F, "012C", map[string]float64{"run_time": 300}, true},
	{0x24, "80006666", map[string]float64{"lambda": 1, "voltage": 3.199951}, true},
	{0x32, "FF9C", map[string]float64{"evap_vapor_pressure": -25}, true},
	{0x34, "80008000", map[string]float64{"lambda": 1, "current": 0}, true},
	{0x34, "80007F00", map[string]float64{"lambda": 1, "current": -0.001}, true},
	{0x3C, "1194", map[string]float64{"catalyst_temp_b1s1": 410}, true},
	{0x42, "36B0", map[string]float64{"control_module_voltage": 14}, true},
	{0x44, "8000", map[string]float64{"commanded_equivalence_ratio": 1}, true},
	{0x46, "41", map[string]float64{"ambient_air_temp": 25}, true},
	{0x4F, "0205800A", map[string]float64{"max_equivalence_ratio": 2, "max_o2_voltage": 5, "max_o2_current": 128, "max_intake_manifold_pressure": 100}, true},
	{0x51, "01", map[string]float64{"fuel_type": 1}, true},
	{0x54, "8000", map[string]float64{"evap_vapor_pressure_wide": -32768}, true},
	{0x5C, "82", map[string]float64{"oil_temp": 90}, true},
	{0x5D, "6900", map[string]float64{"fuel_injection_timing": 0}, true},
	{0x5E, "0064", map[string]float64{"fuel_rate": 5}, true},
	{0x61, "7D", map[string]float64{"driver_demand_torque": 0}, true},
	{0x66, "030FA00040", map[string]float64{"sensor_a": 125, "sensor_b": 2}, true},
	{0x66, "010FA00040", map[string]float64{"sensor_a": 125}, false}, // B not supported
	{0x70, "3F0640064001000100" + "09", map[string]float64{"commanded_a": 50, "sensor_a": 50, "control_state_a": 1, "commanded_b": 8, "sensor_b": 8, "control_state_b": 2}, true},
	{0x7F, "070000" + "0E10" + "00000384" + "0000003C", map[string]float64{"total": 1, "idle": 0.25, "with_pto": 60}, true},
	{0x9A, "060060" + "00FF9C", map[string]float64{"battery_voltage": 384, "battery_current": -10}, true},
	{0xA4, "03300C80", map[string]float64{"gear": 3, "ratio": 3.2}, true},
	{0xA6, "0001E240", map[string]float64{"odometer": 12345.6}, true},
}

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDecodeVectors(t *testing.T) {
	for _, v := range pidVectors {
		data := mustHex(t, v.hex)
		got, err := Decode(v.pid, data, nil)
		if err != nil {
			t.Errorf("PID %s %s: %v", v.pid, v.hex, err)
			continue
		}
		if len(got.Measurements) != len(v.want) {
			t.Errorf("PID %s %s: got %d measurements %+v, want %v", v.pid, v.hex, len(got.Measurements), got.Measurements, v.want)
			continue
		}
		for _, m := range got.Measurements {
			w, ok := v.want[m.Key]
			if !ok || math.Abs(m.Value-w) > 1e-6 {
				t.Errorf("PID %s %s: %s = %v, want %v", v.pid, v.hex, m.Key, m.Value, w)
			}
		}
	}
}

func TestEncodeVectors(t *testing.T) {
	for _, v := range pidVectors {
		if !v.encode {
			continue
		}
		got, err := Encode(v.pid, v.want)
		if err != nil {
			t.Errorf("PID %s: %v", v.pid, err)
			continue
		}
		if want := mustHex(t, v.hex); !bytes.Equal(got, want) {
			t.Errorf("Encode(PID %s, %v) = %X, want %X", v.pid, v.want, got, want)
		}
	}
	if _, err := Encode(0x0C, map[string]float64{"nonsense": 1}); err == nil {
		t.Error("Encode accepted a key the PID does not have")
	}
	if _, err := Encode(0x01, map[string]float64{}); err != nil {
		t.Errorf("PID 01 has fields (MIL, count): %v", err)
	}
}

// Every PID from 00 to C4 is in the table, once, and its fields fit inside
// its bytes; signal names are unique; every name flagged as VSS is one of
// the paths the VSS releases define.
func TestTableCoversJ1979(t *testing.T) {
	vss := map[string]bool{}
	raw, err := os.ReadFile("testdata/vss-paths.txt")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(raw), "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			vss[l] = true
		}
	}
	seenKey := map[string]PID{}
	seenSignal := map[string]PID{}
	for p := 0; p <= 0xC4; p++ {
		info, ok := Lookup(PID(p))
		if !ok {
			t.Errorf("PID %02X missing from the table", p)
			continue
		}
		if info.PID != PID(p) || info.Name == "" || info.Key == "" {
			t.Errorf("PID %02X: incomplete entry %+v", p, info)
		}
		if q, dup := seenKey[info.Key]; dup {
			t.Errorf("PID %02X reuses key %q of PID %s", p, info.Key, q)
		}
		seenKey[info.Key] = PID(p)
		if info.Bytes == 0 && (len(info.Fields) > 0 || info.Note == "") {
			t.Errorf("PID %02X: raw PIDs have no fields and say why in a note", p)
		}
		longest := slices.Max(append([]int{info.Bytes}, info.AltBytes...))
		for _, f := range info.Fields {
			if f.off+f.size > longest {
				t.Errorf("PID %02X field %s ends at byte %d of %d", p, f.Key, f.off+f.size, longest)
			}
			if f.Signal == "" || !strings.HasPrefix(f.Signal, "Vehicle.") {
				t.Errorf("PID %02X field %s: signal %q", p, f.Key, f.Signal)
			}
			if q, dup := seenSignal[f.Signal]; dup && !sameQuantity(q, PID(p)) {
				t.Errorf("PID %02X field %s reuses signal %s of PID %s", p, f.Key, f.Signal, q)
			}
			seenSignal[f.Signal] = PID(p)
			if f.VSS && !vss[f.Signal] {
				t.Errorf("PID %02X field %s claims VSS path %s, which VSS does not define", p, f.Key, f.Signal)
			}
			if !f.VSS && vss[f.Signal] {
				t.Errorf("PID %02X field %s: %s is a VSS path; mark it so", p, f.Key, f.Signal)
			}
			if f.Min > f.Max {
				t.Errorf("PID %02X field %s: range %v..%v", p, f.Key, f.Min, f.Max)
			}
		}
	}
}

// sameQuantity lists the PIDs that report one quantity two ways, so share
// its signal: a wide-range O2 sensor's lambda comes with its voltage (24–2B)
// or its current (34–3B), and the DEF tank level from the reagent system
// (85) or the DEF sensor (9B).
func sameQuantity(a, b PID) bool {
	return a >= 0x24 && a <= 0x2B && b == a+0x10 || a == 0x85 && b == 0x9B
}

func TestBitmaps(t *testing.T) {
	v, err := Decode(0x00, mustHex(t, "BE1FA813"), nil)
	if err != nil {
		t.Fatal(err)
	}
	set := v.Detail.(PIDSet)
	want := []PID{0x01, 0x03, 0x04, 0x05, 0x06, 0x07, 0x0C, 0x0D, 0x0E, 0x0F, 0x10, 0x11, 0x13, 0x15, 0x1C, 0x1F, 0x20}
	if got := set.List(); len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for _, p := range want {
		if !set.Has(p) {
			t.Errorf("PID %s missing", p)
		}
	}
	v, _ = Decode(0xA0, mustHex(t, "00000001"), nil)
	if l := v.Detail.(PIDSet).List(); len(l) != 1 || l[0] != 0xC0 {
		t.Errorf("A0 bitmap: %v", l)
	}
}

func TestMonitorStatus(t *testing.T) {
	s, err := DecodeMonitorStatus(mustHex(t, "81076504"), false)
	if err != nil {
		t.Fatal(err)
	}
	if !s.MIL || s.DTCCount != 1 || s.Ignition != "spark" || s.Ready() {
		t.Fatalf("%+v", s)
	}
	if inc := s.Incomplete(); len(inc) != 1 || inc[0] != "evaporative_system" {
		t.Fatalf("incomplete %v", inc)
	}
	sup := map[string]bool{}
	for _, m := range s.Monitors {
		sup[m.Name] = m.Supported
	}
	for _, n := range []string{"misfire", "fuel_system", "components", "catalyst", "evaporative_system", "oxygen_sensor", "oxygen_sensor_heater"} {
		if !sup[n] {
			t.Errorf("%s should be supported", n)
		}
	}
	if sup["egr_vvt"] || sup["secondary_air"] {
		t.Error("egr and secondary air are not supported by 65")
	}
	d, _ := DecodeMonitorStatus(mustHex(t, "000800E1"), false)
	if d.Ignition != "compression" || d.Monitors[3].Name != "nmhc_catalyst" {
		t.Fatalf("diesel: %+v", d)
	}
	v, _ := Decode(0x01, mustHex(t, "83076504"), nil)
	if m, _ := v.Get("dtc_count"); m.Value != 3 {
		t.Errorf("dtc_count = %v", m.Value)
	}
	if m, _ := v.Get("mil"); m.Value != 1 {
		t.Errorf("mil = %v", m.Value)
	}
}

func TestDetails(t *testing.T) {
	v, _ := Decode(0x03, mustHex(t, "0200"), nil)
	if fs := v.Detail.(FuelSystemStatus); !fs.ClosedLoop() || fs.System2 != "" {
		t.Errorf("fuel system %+v", fs)
	}
	v, _ = Decode(0x51, mustHex(t, "04"), nil)
	if e := v.Detail.(Enum); e.Name != "diesel" {
		t.Errorf("fuel type %+v", e)
	}
	v, _ = Decode(0x13, mustHex(t, "11"), nil)
	if f := v.Detail.(Flags); f.String() != "B1S1, B2S1" {
		t.Errorf("O2 locations %v", f)
	}
	v, _ = Decode(0x02, mustHex(t, "0133"), nil)
	if d := v.Detail.(DTC); d.String() != "P0133" {
		t.Errorf("freeze DTC %v", d)
	}
}

func TestScalingFrom4F(t *testing.T) {
	sc, _ := ScalingFrom(mustHex(t, "0205800A"))
	v, _ := Decode(0x0B, mustHex(t, "FF"), &sc)
	if m, _ := v.Get("intake_manifold_pressure"); m.Value != 100 {
		t.Errorf("MAP with 4F: %v", m.Value)
	}
	v, _ = Decode(0x24, mustHex(t, "FFFFFFFF"), &sc)
	if m, _ := v.Get("lambda"); m.Value != 2 {
		t.Errorf("lambda with 4F: %v", m.Value)
	}
	if m, _ := v.Get("voltage"); m.Value != 5 {
		t.Errorf("voltage with 4F: %v", m.Value)
	}
}

func TestDecodeErrors(t *testing.T) {
	if _, err := Decode(0x0C, []byte{0x1A}, nil); err == nil {
		t.Error("short PID 0C accepted")
	}
	// Extra bytes beyond the PID are ignored.
	v, err := Decode(0x0D, []byte{0x32, 0x00, 0x00}, nil)
	if err != nil || v.Measurements[0].Value != 50 {
		t.Errorf("padded PID 0D: %+v %v", v, err)
	}
	// Reserved PIDs come back raw.
	v, err = Decode(0xB0, []byte{1, 2, 3}, nil)
	if err != nil || !bytes.Equal(v.Raw, []byte{1, 2, 3}) || len(v.Measurements) != 0 {
		t.Errorf("raw PID: %+v %v", v, err)
	}
}

func FuzzDecode(f *testing.F) {
	for _, v := range pidVectors {
		f.Add(byte(v.pid), mustHex(f, v.hex))
	}
	f.Fuzz(func(t *testing.T, p byte, data []byte) {
		v, err := Decode(PID(p), data, &Scaling{MaxLambda: float64(p), MaxMAP: 10})
		if err != nil {
			return
		}
		for _, m := range v.Measurements {
			if math.IsNaN(m.Value) || math.IsInf(m.Value, 0) {
				t.Fatalf("PID %02X % X: %s = %v", p, data, m.Key, m.Value)
			}
		}
	})
}

func BenchmarkDecode(b *testing.B) {
	data := []byte{0x1A, 0xF8}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Decode(0x0C, data, nil); err != nil {
			b.Fatal(err)
		}
	}
}

func TestEncodersRoundTrip(t *testing.T) {
	var s PIDSet
	for _, p := range []PID{0x01, 0x0C, 0x0D, 0x20} {
		s.Add(p)
	}
	if got := decodeBitmap(0, EncodeBitmap(0, s)); got != s {
		t.Errorf("bitmap round trip: %v", got.List())
	}
	codes := []DTC{0x0300, 0x0301, 0x0302, 0x0171}
	for _, f := range []Framing{FramingCAN, FramingLegacy} {
		got, err := DecodeDTCs(ServicePendingDTCs, f, EncodeDTCs(ServicePendingDTCs, f, codes)...)
		if err != nil || len(got) != 4 || got[3] != 0x0171 {
			t.Errorf("framing %d: %v %v", f, got, err)
		}
		items, err := infoItems(InfoVIN, 17, EncodeInfo(InfoVIN, f, [][]byte{[]byte("1G1JC5444R7252367")}))
		if err != nil || string(items[0]) != "1G1JC5444R7252367" {
			t.Errorf("framing %d VIN: %q %v", f, items, err)
		}
	}
	in := MonitorStatus{MIL: true, DTCCount: 2, Ignition: "spark", Monitors: []Monitor{
		{Name: "misfire", Supported: true, Complete: true}, {Name: "catalyst", Supported: true}, {Name: "evaporative_system", Supported: true, Complete: true}}}
	b, err := EncodeMonitorStatus(in, false)
	if err != nil {
		t.Fatal(err)
	}
	out, _ := DecodeMonitorStatus(b, false)
	if !out.MIL || out.DTCCount != 2 || out.Ready() || len(out.Incomplete()) != 1 || out.Incomplete()[0] != "catalyst" {
		t.Errorf("monitor status round trip: % X → %+v", b, out)
	}
	if _, err := EncodeMonitorStatus(MonitorStatus{Ignition: "spark", Monitors: []Monitor{{Name: "pm_filter"}}}, false); err == nil {
		t.Error("a diesel monitor on a petrol engine was accepted")
	}
}
