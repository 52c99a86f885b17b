package wire

import (
	"errors"
	"math"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/pitwall-io/pitwall/gateway/wire/wirepb"
	"github.com/pitwall-io/pitwall/obd"
)

// catalogBirth is the birth of an agent announcing every signal it knows.
func catalogBirth(t testing.TB) *wirepb.Status {
	var names []string
	for _, p := range obd.PIDs() {
		for _, f := range p.Fields {
			names = append(names, f.Signal)
		}
	}
	a, err := NewAliases(append(names, BatteryVoltage))
	if err != nil {
		t.Fatal(err)
	}
	return &wirepb.Status{Header: NewHeader(strings.Repeat("d", MaxDeviceIDLen), math.MaxUint64, math.MaxUint64), Online: true, TimeMs: math.MaxInt64,
		AgentVersion: "v1.0.0-rc.1+build.20251122", Vin: "WVWZZZ1JZXW000001", Adapter: "ELM327 v2.1", Protocol: "ISO 15765-4 (CAN 11/500)", Signals: a.Defs()}
}

// The largest birth an agent sends fits the status bound with room to
// grow, and a larger status is refused.
func TestStatusBound(t *testing.T) {
	raw, err := Encode(catalogBirth(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("a birth announcing all %d signals: %d bytes (bound %d)", len(catalogBirth(t).Signals), len(raw), MaxStatus)
	if len(raw) > MaxStatus/2 {
		t.Errorf("the catalog's birth is %d bytes, more than half of MaxStatus (%d)", len(raw), MaxStatus)
	}
	if _, err := Decode(KindStatus, raw); err != nil {
		t.Fatal(err)
	}
	big := catalogBirth(t)
	big.AgentVersion = strings.Repeat("x", MaxStatus)
	raw, _ = Encode(big)
	if _, err := Decode(KindStatus, raw); !errors.Is(err, ErrPayload) || !strings.Contains(err.Error(), "status of") {
		t.Errorf("a %d-byte status: %v", len(raw), err)
	}
	if MaxPacket < MaxPayload+5+2+len(Topic(strings.Repeat("d", MaxDeviceIDLen), KindCommandResult))+2 {
		t.Errorf("MaxPacket %d leaves no room for the headers of a %d-byte payload", MaxPacket, MaxPayload)
	}
}

// NaN and infinities are refused wherever a message carries a float, and
// so is a signal whose scale or offset makes values beyond float64.
func TestNonFinite(t *testing.T) {
	enc := func(m proto.Message) []byte { b, _ := proto.Marshal(m); return b }
	h := NewHeader("car", 1, 1)
	for name, c := range map[string]struct {
		kind Kind
		m    proto.Message
	}{
		"NaN odometer":        {KindEvent, &wirepb.Event{Header: h, Kind: &wirepb.Event_TripStart{TripStart: &wirepb.TripStart{OdometerKm: math.NaN()}}}},
		"+Inf volts":          {KindEvent, &wirepb.Event{Header: h, Kind: &wirepb.Event_Battery{Battery: &wirepb.Battery{Volts: math.Inf(1)}}}},
		"-Inf freeze frame":   {KindDTC, &wirepb.DTCReport{Header: h, FreezeFrames: []*wirepb.FreezeFrame{{Dtc: "P0133", Values: []*wirepb.Value{{Signal: "Vehicle.Speed", Value: math.Inf(-1)}}}}}},
		"NaN plan rate":       {KindCommand, &wirepb.Command{Header: h, Action: &wirepb.Command_SetPollPlan{SetPollPlan: &wirepb.SetPollPlan{Tiers: []*wirepb.PollTier{{Hz: math.NaN(), Signals: []string{"0C"}}}}}}},
		"Inf scale in birth":  {KindStatus, &wirepb.Status{Header: h, Online: true, Signals: []*wirepb.SignalDef{{Alias: 1, Name: "Vehicle.Speed", Scale: math.Inf(1)}}}},
		"NaN offset in birth": {KindStatus, &wirepb.Status{Header: h, Online: true, Signals: []*wirepb.SignalDef{{Alias: 1, Name: "Vehicle.Speed", Scale: 1, Offset: math.NaN()}}}},
	} {
		if _, err := Decode(c.kind, enc(c.m)); !errors.Is(err, ErrNonFinite) || !errors.Is(err, ErrPayload) {
			t.Errorf("%s: %v", name, err)
		}
	}
	for name, d := range map[string]*wirepb.SignalDef{
		"scale 1e308":           {Alias: 1, Name: "Vehicle.Speed", Scale: 1e308},
		"scale 1e300":           {Alias: 1, Name: "Vehicle.Speed", Scale: 1e300},
		"offset near the limit": {Alias: 1, Name: "Vehicle.Speed", Scale: 1e290, Offset: math.MaxFloat64 / 2},
	} {
		m, err := Decode(KindStatus, enc(&wirepb.Status{Header: h, Online: true, Signals: []*wirepb.SignalDef{d}}))
		if err != nil {
			t.Fatalf("%s: the message itself is finite: %v", name, err)
		}
		if _, err := AliasesFromBirth(m.(*wirepb.Status)); !errors.Is(err, ErrNonFinite) {
			t.Errorf("%s: %v", name, err)
		}
	}
	// The largest scale accepted gives finite values at both ends of
	// the sample's range.
	d := &wirepb.SignalDef{Alias: 1, Name: "Vehicle.Speed", Scale: 1e289, Offset: -1e300}
	a, err := AliasesFromBirth(&wirepb.Status{Signals: []*wirepb.SignalDef{d}})
	if err != nil {
		t.Fatal(err)
	}
	s, _ := a.ByAlias(1)
	for _, q := range []int64{math.MinInt64, -1, 0, 1, math.MaxInt64} {
		if v := s.Value(q); math.IsNaN(v) || math.IsInf(v, 0) {
			t.Errorf("value of %d: %v", q, v)
		}
	}
	// Large, finite values are not rounded into an overflow.
	big := Signal{Scale: 1e200}
	if v := big.Value(3); v != 3e200 {
		t.Errorf("3 × 1e200 came out %v", v)
	}
}

// Trouble codes and ECU addresses are refused unless written as J2012 and
// the transports write them.
func TestCodes(t *testing.T) {
	for _, ok := range []string{"P0133", "C0035", "B1234", "U0100", "P3FFF", "U3ABC"} {
		if err := ValidCode(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "P013", "P01333", "p0133", "X0133", "P4133", "P01G3", "P0a33", " P0133", "P0133\n", "<b>P0133</b>", "P0133'; --", "P-133", "P+133", "P0x13", "P01_3"} {
		if err := ValidCode(bad); !errors.Is(err, ErrCode) || !errors.Is(err, ErrPayload) {
			t.Errorf("%q: %v", bad, err)
		}
	}
	enc := func(m proto.Message) []byte { b, _ := proto.Marshal(m); return b }
	h := NewHeader("car", 1, 1)
	good := &wirepb.DTCReport{Header: h, Stored: []*wirepb.Code{{Code: "P0217", Ecu: "7E8"}}, Pending: []*wirepb.Code{{Code: "U0100", Ecu: "18DAF110"}},
		FreezeFrames: []*wirepb.FreezeFrame{{Ecu: "7E8", Dtc: "P0217", Values: []*wirepb.Value{{Signal: "Vehicle.Speed", Value: 50}}}, {Ecu: ""}}}
	if _, err := Decode(KindDTC, enc(good)); err != nil {
		t.Fatal(err)
	}
	for name, r := range map[string]*wirepb.DTCReport{
		"stored code":       {Header: h, Stored: []*wirepb.Code{{Code: "P0217<script>"}}},
		"pending code":      {Header: h, Pending: []*wirepb.Code{{Code: "Z9999"}}},
		"permanent code":    {Header: h, Permanent: []*wirepb.Code{{Code: "p0420"}}},
		"ECU":               {Header: h, Stored: []*wirepb.Code{{Code: "P0420", Ecu: "7E8\r\nBcc: x@example.com"}}},
		"long ECU":          {Header: h, Stored: []*wirepb.Code{{Code: "P0420", Ecu: "123456789"}}},
		"freeze-frame code": {Header: h, FreezeFrames: []*wirepb.FreezeFrame{{Dtc: "P04200"}}},
		"freeze-frame name": {Header: h, FreezeFrames: []*wirepb.FreezeFrame{{Dtc: "P0420", Values: []*wirepb.Value{{Signal: "Vehicle.Speed,evil=1"}}}}},
	} {
		if _, err := Decode(KindDTC, enc(r)); !errors.Is(err, ErrPayload) {
			t.Errorf("%s: %v", name, err)
		}
	}
}
