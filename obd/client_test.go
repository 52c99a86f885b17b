package obd_test

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pitwall-io/pitwall/obd"
	"github.com/pitwall-io/pitwall/obd/isotp"
	"github.com/pitwall-io/pitwall/obd/obdtest"
)

var update = flag.Bool("update", false, "rewrite golden files")

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return c
}

func TestDiscoveryAndPackedRead(t *testing.T) {
	car := obdtest.SampleCar()
	c := obd.NewClient(car)
	sets, err := c.SupportedPIDs(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(sets) != 2 || !sets["7E8"].Has(0xA6) || !sets["7E9"].Has(0xA4) || sets["7E9"].Has(0x05) {
		t.Fatalf("supported: %v", sets)
	}
	// 00, 20, 40, 60, 80, A0 for the engine, whose odometer sits at A6.
	if got := car.Sent(); !slices.Equal(got, []string{"0100", "0120", "0140", "0160", "0180", "01A0"}) {
		t.Fatalf("discovery requests %v", got)
	}
	before := len(car.Sent())
	rs, err := c.Read(ctx(t), 0x0C, 0x0D, 0x05, 0xA4)
	if err != nil {
		t.Fatal(err)
	}
	if got := car.Sent()[before:]; !slices.Equal(got, []string{"010C0D05A4"}) {
		t.Fatalf("want one packed request, sent %v", got)
	}
	if exp := car.Requests[before].Expect; !slices.Equal(exp, []int{8, 11}) {
		t.Fatalf("expected answer lengths %v, want [8 11]", exp)
	}
	var got []string
	for _, r := range rs {
		got = append(got, string(r.ECU)+":"+r.PID.String())
	}
	if want := []string{"7E8:05", "7E8:0C", "7E9:0C", "7E8:0D", "7E9:0D", "7E9:A4"}; !slices.Equal(got, want) {
		t.Fatalf("readings %v, want %v", got, want)
	}
	if m, _ := rs[1].Value.Get("engine_speed"); m.Value != 1726 || m.Signal != "Vehicle.Powertrain.CombustionEngine.Speed" {
		t.Fatalf("rpm %+v", m)
	}
}

func TestPackingFallsBack(t *testing.T) {
	car := obdtest.SampleCar()
	car.ECUs[0].RefusePacked = true
	c := obd.NewClient(car)
	rs, err := c.Read(ctx(t), 0x0C, 0x05)
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 3 { // 05 from the engine, 0C from both
		t.Fatalf("readings %+v", rs)
	}
	// The transmission answered its part of the packed request, the
	// engine did not: both PIDs are read again singly.
	sent := car.Sent()
	if tail := sent[len(sent)-3:]; !slices.Equal(tail, []string{"010C05", "010C", "0105"}) {
		t.Fatalf("requests %v", sent)
	}
	if !c.Packing() {
		t.Fatal("one failure should not end packing")
	}
	if _, err := c.Read(ctx(t), 0x0C, 0x0D); err != nil {
		t.Fatal(err)
	}
	if c.Packing() {
		t.Fatal("packing should stop after repeated failures")
	}
	before := len(car.Sent())
	if _, err := c.Read(ctx(t), 0x0C, 0x0D); err != nil {
		t.Fatal(err)
	}
	if got := car.Sent()[before:]; !slices.Equal(got, []string{"010C", "010D"}) {
		t.Fatalf("after packing stopped: %v", got)
	}
}

func TestUnsupportedPID(t *testing.T) {
	c := obd.NewClient(obdtest.SampleCar())
	rs, err := c.Read(ctx(t), 0x0D, 0x5E)
	var ue *obd.UnsupportedPIDError
	if !errors.As(err, &ue) || ue.PID != 0x5E || !errors.Is(err, obd.ErrUnsupported) {
		t.Fatalf("got %v, want an unsupported-PID error for 5E", err)
	}
	if !strings.Contains(err.Error(), "Engine fuel rate") {
		t.Errorf("error should name the PID: %v", err)
	}
	if len(rs) != 2 {
		t.Fatalf("the supported PID is still read: %+v", rs)
	}
}

func TestDTCs(t *testing.T) {
	for _, legacy := range []bool{false, true} {
		car := obdtest.SampleCar()
		car.Legacy = legacy
		car.ECUs[0].Stored = []obd.DTC{0x0300, 0x0301, 0x0302, 0x0171}
		c := obd.NewClient(car)
		codes, err := c.DTCs(ctx(t), obd.ServiceStoredDTCs)
		if err != nil {
			t.Fatalf("legacy=%v: %v", legacy, err)
		}
		var got []string
		for _, d := range codes {
			got = append(got, d.Code.String()+"@"+string(d.ECU))
		}
		if want := []string{"P0300@7E8", "P0301@7E8", "P0302@7E8", "P0171@7E8"}; !slices.Equal(got, want) {
			t.Errorf("legacy=%v: %v, want %v", legacy, got, want)
		}
		_, err = c.DTCs(ctx(t), obd.ServicePermanentDTCs)
		if legacy && !errors.Is(err, obd.ErrNoData) {
			t.Errorf("legacy cars do not know service 0A: %v", err)
		}
	}
}

func TestVehicleInfo(t *testing.T) {
	for _, legacy := range []bool{false, true} {
		c := obd.NewClient(&obdtest.Car{Legacy: legacy, ECUs: obdtest.SampleCar().ECUs})
		infos, err := c.VehicleInfo(ctx(t))
		if err != nil {
			t.Fatalf("legacy=%v: %v", legacy, err)
		}
		want := []obd.ECUInfo{
			{ECU: "7E8", VIN: obdtest.SampleVIN, CalibrationIDs: []string{"JMB*36761500"}, CVNs: []string{"1791BC82"}, Name: "ECM-EngineControl"},
			{ECU: "7E9", Name: "TCM-TransmissionCtl"},
		}
		if !reflect.DeepEqual(infos, want) {
			t.Errorf("legacy=%v:\n got %+v\nwant %+v", legacy, infos, want)
		}
		vin, err := c.VIN(ctx(t))
		if err != nil || vin != obdtest.SampleVIN {
			t.Errorf("legacy=%v: VIN %q, %v", legacy, vin, err)
		}
	}
}

func TestFreezeFrame(t *testing.T) {
	c := obd.NewClient(obdtest.SampleCar())
	frames, err := c.FreezeFrames(ctx(t), 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(frames) != 1 || frames[0].DTC.String() != "P0300" || frames[0].ECU != "7E8" || len(frames[0].Values) != 4 {
		t.Fatalf("%+v", frames)
	}
	if m, _ := frames[0].Values[2].Value.Get("engine_speed"); m.Value != 750 {
		t.Errorf("freeze frame rpm %+v", frames[0].Values[2])
	}
}

func TestClearNeedsConfirmation(t *testing.T) {
	car := obdtest.SampleCar()
	c := obd.NewClient(car)
	if err := c.ClearDTCs(ctx(t), false); !errors.Is(err, obd.ErrNotConfirmed) || len(car.Requests) != 0 {
		t.Fatalf("unconfirmed clear: %v, requests %v", err, car.Sent())
	}
	if err := c.ClearDTCs(ctx(t), true); err != nil || car.Cleared == 0 {
		t.Fatalf("confirmed clear: %v", err)
	}
	codes, _ := c.DTCs(ctx(t), obd.ServiceStoredDTCs)
	if len(codes) != 0 {
		t.Fatalf("codes after clearing: %v", codes)
	}
}

// The scan of the sample car matches its golden report.
func TestScanGolden(t *testing.T) {
	for _, name := range []string{"can", "legacy"} {
		t.Run(name, func(t *testing.T) {
			car := obdtest.SampleCar()
			car.Legacy = name == "legacy"
			report, err := obd.Scan(ctx(t), obd.NewClient(car))
			if err != nil {
				t.Fatal(err)
			}
			report.Time = time.Time{}
			got, _ := json.MarshalIndent(report, "", "  ")
			checkGolden(t, filepath.Join("testdata", "scan", name+".json"), got)
		})
	}
}

func checkGolden(t *testing.T, path string, got []byte) {
	t.Helper()
	got = append(got, '\n')
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if string(got) != string(want) {
		t.Errorf("%s differs from what the scan produced:\n%s", path, got)
	}
}

// The same client reads the same car through ISO-TP on a CAN bus: the scan
// report is the golden one, but for the protocol it names.
func TestScanOverISOTP(t *testing.T) {
	car := obdtest.SampleCar()
	bus := isotp.NewMemBus()
	cctx, cancel := context.WithCancel(ctx(t))
	wait := car.ServeCAN(cctx, bus)
	defer func() { cancel(); wait() }()

	tr := isotp.NewOBD(bus.Port(nil), isotp.OBDOptions{P2: 300 * time.Millisecond})
	report, err := obd.Scan(ctx(t), obd.NewClient(tr))
	if err != nil {
		t.Fatal(err)
	}
	report.Time = time.Time{}
	got, _ := json.MarshalIndent(report, "", "  ")
	want, err := os.ReadFile(filepath.Join("testdata", "scan", "can.json"))
	if err != nil {
		t.Fatal(err)
	}
	if string(got)+"\n" != string(want) {
		t.Errorf("scan over ISO-TP differs from testdata/scan/can.json:\n%s", got)
	}
}

// Every request after discovery says who owes an answer, so a transport
// need not wait out its timeout for modules that will stay silent.
func TestScanRequestsSayWhoAnswers(t *testing.T) {
	car := obdtest.SampleCar()
	if _, err := obd.Scan(ctx(t), obd.NewClient(car)); err != nil {
		t.Fatal(err)
	}
	got := map[string][]int{}
	for _, r := range car.Requests {
		got[r.String()] = r.Expect
	}
	for req, want := range map[string][]int{
		"0100":   nil,    // nobody known yet
		"01A0":   {0, 0}, // both modules announced this map
		"03":     {0, 0}, // every emissions module answers, codes or not
		"0900":   {0, 0},
		"0902":   {0}, // only the engine module has a VIN
		"0106":   {0}, // a PID whose length varies: owed, length unknown
		"020000": {0}, // the module holding a freeze frame
	} {
		e, sent := got[req]
		if !sent {
			if want != nil {
				t.Errorf("%s not sent; requests %v", req, car.Sent())
			}
			continue
		}
		if !slices.Equal(e, want) {
			t.Errorf("%s: Expect %v, want %v", req, e, want)
		}
	}
}
