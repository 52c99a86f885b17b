package obd_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/pitwall-io/pitwall/obd"
	"github.com/pitwall-io/pitwall/obd/obdtest"
)

// A car whose ECUs refuse the service 09 map, in each way real ones do,
// still has every item asked once and gives what it has; what it did not
// answer is named.
func TestVehicleInfoWithoutMap(t *testing.T) {
	for name, how := range map[string]obdtest.Refusal{"silent": obdtest.RefuseSilent, "negative": obdtest.RefuseNegative, "empty": obdtest.RefuseEmpty} {
		t.Run(name, func(t *testing.T) {
			car := obdtest.SampleCar()
			for _, e := range car.ECUs {
				e.Refuse = map[string]obdtest.Refusal{"0900": how}
			}
			car.ECUs[0].Name = "" // the engine has no name: one item nobody answers
			c := obd.NewClient(car)
			infos, err := c.VehicleInfo(ctx(t))
			if len(infos) != 2 || infos[0].VIN != obdtest.SampleVIN || !slices.Equal(infos[0].CalibrationIDs, []string{"JMB*36761500"}) ||
				!slices.Equal(infos[0].CVNs, []string{"1791BC82"}) || infos[1].Name != "TCM-TransmissionCtl" {
				t.Fatalf("infos %+v", infos)
			}
			// Every item was asked exactly once.
			for _, req := range []string{"0900", "0902", "0904", "0906", "090A"} {
				if n := count(car.Sent(), req); n != 1 {
					t.Errorf("%s sent %d times", req, n)
				}
			}
			var ue *obd.UnansweredError
			if how != obdtest.RefuseEmpty && !errors.As(err, &ue) {
				t.Fatalf("want the unanswered map named, got %v", err)
			}
			text := fmt.Sprint(err)
			if how != obdtest.RefuseEmpty && !strings.Contains(text, "info type 00 (supported information map)") {
				t.Errorf("the refused map is not named: %v", err)
			}
			if strings.Contains(text, "info type 02") || strings.Contains(text, "info type 04") {
				t.Errorf("answered items named as unanswered: %v", err)
			}
			// The ECU name came from the transmission only: the engine's
			// missing name is not the car failing to answer.
			if strings.Contains(text, "info type 0A") {
				t.Errorf("ECU name was answered by the transmission: %v", err)
			}
		})
	}
}

// A car that answers no service 01 map but does answer PIDs: the client
// asks the PIDs it needs one at a time and says so; a silent car costs one
// request more than the map.
func TestDiscoveryWithoutMap(t *testing.T) {
	car := obdtest.SampleCar()
	for _, e := range car.ECUs {
		e.Refuse = map[string]obdtest.Refusal{"0100": obdtest.RefuseSilent}
	}
	c := obd.NewClient(car)
	sets, err := c.SupportedPIDs(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	if !sets["7E8"].Has(0x0C) || !sets["7E8"].Has(0x01) || !sets["7E9"].Has(0x0D) || sets["7E9"].Has(0x05) {
		t.Fatalf("sets %v", sets)
	}
	if n := len(car.Sent()); n != 1+len(obd.FallbackPIDs) {
		t.Errorf("%d requests, want the map and %d PIDs", n, len(obd.FallbackPIDs))
	}
	var ue *obd.UnansweredError
	if err := c.DiscoveryProblems(); !errors.As(err, &ue) || !errors.Is(err, obd.ErrNoData) || !strings.Contains(err.Error(), "PID 00") {
		t.Fatalf("discovery problems %v", err)
	}
	report, err := obd.Scan(ctx(t), obd.NewClient(car))
	if err != nil {
		t.Fatal(err)
	}
	if report.VIN != obdtest.SampleVIN || !report.MIL || len(report.Values) == 0 || !hasProblem(report, "supported PIDs (service 01)", "PID 00") {
		t.Fatalf("scan %+v", report)
	}

	silent := &obdtest.Car{ECUs: []*obdtest.ECU{{Addr: "7E8", Refuse: map[string]obdtest.Refusal{"0100": obdtest.RefuseSilent}}}}
	if _, err := obd.NewClient(silent).SupportedPIDs(ctx(t)); !errors.Is(err, obd.ErrNoData) {
		t.Fatalf("a silent car: %v", err)
	}
	if got := silent.Sent(); !slices.Equal(got, []string{"0100", "0101"}) {
		t.Errorf("a silent car was asked %v", got)
	}
}

// A map that lacks PID 01 for every ECU: PID 01 is asked anyway.
func TestStatusAskedWithoutBit(t *testing.T) {
	car := obdtest.SampleCar()
	car.ECUs[0].Refuse = map[string]obdtest.Refusal{"0100": obdtest.RefuseEmpty}
	car.ECUs[1].Refuse = map[string]obdtest.Refusal{"0100": obdtest.RefuseEmpty}
	st, err := obd.NewClient(car).Status(ctx(t))
	if err != nil || st["7E8"] == nil || !st["7E8"].MIL {
		t.Fatalf("status %v, %v", st, err)
	}
}

// An ECU holding a freeze frame that refuses the frame's map still has the
// usual freeze frame PIDs read.
func TestFreezeFrameWithoutMap(t *testing.T) {
	car := obdtest.SampleCar()
	car.ECUs[0].Refuse = map[string]obdtest.Refusal{"020000": obdtest.RefuseNegative}
	frames, err := obd.NewClient(car).FreezeFrames(ctx(t), 0)
	if len(frames) != 1 || len(frames[0].Values) != 4 {
		t.Fatalf("frames %+v", frames)
	}
	var ue *obd.UnansweredError
	if !errors.As(err, &ue) || !errors.Is(err, obd.ErrUnsupported) {
		t.Fatalf("want the refused map named, got %v", err)
	}
}

func count(list []string, s string) int {
	n := 0
	for _, x := range list {
		if x == s {
			n++
		}
	}
	return n
}

func hasProblem(r *obd.ScanReport, step, text string) bool {
	for _, p := range r.Problems {
		if p.Step == step && strings.Contains(p.Error, text) {
			return true
		}
	}
	return false
}

// When several ECUs report a signal, the engine's value is the signal's;
// another ECU's goes under its secondary name only where it differs by
// more than a step; bit fields differ at any difference.
func TestOneValuePerSignal(t *testing.T) {
	read := func(ecu obd.ECU, p obd.PID, data ...byte) obd.Reading {
		v, err := obd.Decode(p, data, nil)
		if err != nil {
			t.Fatal(err)
		}
		return obd.Reading{ECU: ecu, PID: p, Value: v}
	}
	rs := []obd.Reading{
		read("7E9", 0x0D, 52), read("7E8", 0x0D, 50), read("7EA", 0x0D, 49), // speed: 7E9 differs by 2
		read("7E9", 0x0C, 0x1A, 0xF9), read("7E8", 0x0C, 0x1A, 0xF8), // rpm: a quarter rpm apart, one step
		read("7E9", 0x01, 0x00, 0, 0, 0), read("7E8", 0x01, 0x81, 0x07, 0x65, 0x04), // the MIL differs
	}
	vals, dropped := obd.OneValuePerSignal(rs)
	got := map[string]string{}
	for _, v := range vals {
		got[v.Signal] = fmt.Sprintf("%v@%s", v.Value, v.ECU)
	}
	want := map[string]string{
		"Vehicle.Speed": "50@7E8", "Vehicle.OBD.Secondary.Speed": "52@7E9",
		"Vehicle.Powertrain.CombustionEngine.Speed": "1726@7E8",
		"Vehicle.OBD.Status.IsMILOn":                "1@7E8", "Vehicle.OBD.Secondary.OBD.Status.IsMILOn": "0@7E9",
		"Vehicle.Diagnostics.DTCCount": "1@7E8", "Vehicle.OBD.Secondary.Diagnostics.DTCCount": "0@7E9",
	}
	if len(got) != len(want) || len(vals) != len(want) {
		t.Fatalf("values %v", got)
	}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("%s = %s, want %s", k, got[k], w)
		}
	}
	if dropped != 2 { // 7EA's speed (a second secondary) and 7E9's rpm (one step)
		t.Errorf("dropped %d, want 2", dropped)
	}
	for _, c := range []struct {
		a, b obd.ECU
		less bool
	}{{"7E8", "7E9", true}, {"7E9", "7E8", false}, {"18DAF110", "18DAF118", true}, {"18DAF118", "18DAF110", false},
		{"10", "18", true}, {"7E9", "7EA", true}, {"7EA", "18DAF112", true}} {
		if (obd.CompareECUs(c.a, c.b) < 0) != c.less {
			t.Errorf("CompareECUs(%s, %s) = %d", c.a, c.b, obd.CompareECUs(c.a, c.b))
		}
	}
	if p, ok := obd.PrimarySignal(obd.SecondarySignal("Vehicle.Speed")); !ok || p != "Vehicle.Speed" {
		t.Errorf("primary of the secondary speed: %q", p)
	}
}
