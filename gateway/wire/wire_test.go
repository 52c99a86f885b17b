package wire

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/pitwall-io/pitwall/gateway/wire/wirepb"
	"github.com/pitwall-io/pitwall/obd"
)

func TestTopics(t *testing.T) {
	for _, k := range kinds {
		d, got, err := ParseTopic(Topic("car-01", k))
		if err != nil || d != "car-01" || got != k {
			t.Errorf("%s: %q %q %v", k, d, got, err)
		}
	}
	for _, bad := range []string{"pitwall/v2/a/telemetry", "pitwall/v1/a", "pitwall/v1/a/b/telemetry", "pitwall/v1/+/status", "pitwall/v1/a/cmd/other", "other/a/status"} {
		if _, _, err := ParseTopic(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	for _, bad := range []string{"", "a/b", "a+b", "é", strings.Repeat("x", 65)} {
		if err := ValidDeviceID(bad); !errors.Is(err, ErrDevice) {
			t.Errorf("device %q: %v", bad, err)
		}
	}
	if f := Filter(KindTelemetry, "ingest"); f != "$share/ingest/pitwall/v1/+/telemetry" {
		t.Errorf("filter %q", f)
	}
}

// One table of samples and bytes serves the encoder and the decoder.
var telemetryVector = struct {
	names   []string
	samples []Sample
	hex     string
}{
	names: []string{"Vehicle.Powertrain.CombustionEngine.Speed", "Vehicle.Speed", "Vehicle.Powertrain.CombustionEngine.EngineCoolant.Temperature", BatteryVoltage},
	samples: []Sample{
		{"Vehicle.Powertrain.CombustionEngine.Speed", time.UnixMilli(1763800000000).UTC(), 1726},
		{"Vehicle.Speed", time.UnixMilli(1763800000000).UTC(), 50},
		{"Vehicle.Powertrain.CombustionEngine.EngineCoolant.Temperature", time.UnixMilli(1763800000120).UTC(), 89},
		{BatteryVoltage, time.UnixMilli(1763800000250).UTC(), 14.21},
	},
	hex: "0a15080112066361722d303119070000000000000020091080ccb0d5aa331a0401020304220500007882012a07f06b6482029a16",
}

func TestTelemetryBytes(t *testing.T) {
	v := telemetryVector
	a, err := NewAliases(v.names)
	if err != nil {
		t.Fatal(err)
	}
	var b Batch
	for _, i := range []int{2, 0, 1, 3} { // out of time order on purpose
		s := v.samples[i]
		sig, _ := a.ByName(s.Signal)
		b.Add(sig, s.Time, s.Value)
	}
	raw, err := Encode(b.Telemetry(NewHeader("car-01", 7, 9)))
	if err != nil {
		t.Fatal(err)
	}
	if got := hex.EncodeToString(raw); got != v.hex {
		t.Errorf("encoded %s\nwant    %s", got, v.hex)
	}
	want, _ := hex.DecodeString(v.hex)
	m, err := Decode(KindTelemetry, want)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Samples(m.(*wirepb.Telemetry), a)
	if err != nil {
		t.Fatal(err)
	}
	for i, s := range got {
		w := v.samples[i]
		if s.Signal != w.Signal || !s.Time.Equal(w.Time) || math.Abs(s.Value-w.Value) > 1e-9 {
			t.Errorf("sample %d: %+v, want %+v", i, s, w)
		}
	}
}

// A second of a typical poll plan costs well under 8 bytes a sample.
func TestTelemetrySize(t *testing.T) {
	names := []string{
		"Vehicle.Powertrain.CombustionEngine.Speed", "Vehicle.Speed", "Vehicle.Powertrain.CombustionEngine.TPS", "Vehicle.OBD.EngineLoad",
		"Vehicle.Powertrain.CombustionEngine.EngineCoolant.Temperature", "Vehicle.OBD.IntakeTemp", "Vehicle.Powertrain.CombustionEngine.MAF",
		"Vehicle.OBD.ShortTermFuelTrim1", "Vehicle.OBD.LongTermFuelTrim1", "Vehicle.OBD.O2.Sensor1.Voltage", BatteryVoltage,
	}
	a, _ := NewAliases(names)
	var b Batch
	start := time.UnixMilli(1763800000000)
	n := 0
	for ms := 0; ms < 1000; ms += 100 { // the fast tier at 10 Hz
		for _, name := range names[:4] {
			s, _ := a.ByName(name)
			b.Add(s, start.Add(time.Duration(ms+3)*time.Millisecond), 1000+float64(ms))
			n++
		}
	}
	for _, name := range names[4:] { // the 1 Hz tier
		s, _ := a.ByName(name)
		b.Add(s, start.Add(512*time.Millisecond), 20)
		n++
	}
	raw, _ := Encode(b.Telemetry(NewHeader("sim-0001", 0x1234567890, 123456)))
	per := float64(len(raw)) / float64(n)
	// The same samples as JSON, as a naive integration would send them.
	m, _ := Decode(KindTelemetry, raw)
	ss, _ := Samples(m.(*wirepb.Telemetry), a)
	type js struct {
		Signal string  `json:"signal"`
		T      int64   `json:"t"`
		Value  float64 `json:"value"`
	}
	var all []js
	for _, x := range ss {
		all = append(all, js{x.Signal, x.Time.UnixMilli(), x.Value})
	}
	j, _ := json.Marshal(map[string]any{"device": "sim-0001", "seq": 123456, "samples": all})
	t.Logf("%d samples: %d bytes in the wire format (%.2f a sample), %d as JSON (%.1f a sample)", n, len(raw), per, len(j), float64(len(j))/float64(n))
	if per > 8 {
		t.Errorf("%.2f bytes a sample", per)
	}
}

func TestDecodeRefuses(t *testing.T) {
	enc := func(m proto.Message) []byte { b, _ := proto.Marshal(m); return b }
	cases := map[string]struct {
		kind    Kind
		payload []byte
		want    error
	}{
		"garbage":        {KindStatus, []byte{0xFF, 0xFF, 0xFF}, ErrPayload},
		"no header":      {KindEvent, enc(&wirepb.Event{TimeMs: 1}), ErrPayload},
		"schema 2":       {KindDTC, enc(&wirepb.DTCReport{Header: &wirepb.Header{Schema: 2, DeviceId: "a"}}), ErrSchema},
		"bad device":     {KindStatus, enc(&wirepb.Status{Header: &wirepb.Header{Schema: 1, DeviceId: "a/b"}}), ErrDevice},
		"ragged columns": {KindTelemetry, enc(&wirepb.Telemetry{Header: NewHeader("a", 1, 1), Alias: []uint32{1, 2}, DtMs: []uint32{0}, Value: []int64{1, 2}}), ErrPayload},
		"too big":        {KindTelemetry, make([]byte, MaxPayload+1), ErrPayload},
	}
	for name, c := range cases {
		if _, err := Decode(c.kind, c.payload); !errors.Is(err, c.want) {
			t.Errorf("%s: got %v, want %v", name, err, c.want)
		}
	}
	if _, err := NewAliases([]string{"Vehicle.Nonsense"}); err == nil {
		t.Error("an unknown signal got an alias")
	}
	bad := &wirepb.Status{Signals: []*wirepb.SignalDef{{Alias: 1, Name: "x", Scale: 0}}}
	if _, err := AliasesFromBirth(bad); !errors.Is(err, ErrPayload) {
		t.Errorf("scale 0 accepted: %v", err)
	}
	a, _ := NewAliases([]string{"Vehicle.Speed"})
	_, err := Samples(&wirepb.Telemetry{Alias: []uint32{1, 9}, DtMs: []uint32{0, 0}, Value: []int64{5, 5}}, a)
	if !errors.Is(err, ErrPayload) || !strings.Contains(err.Error(), "alias 9") {
		t.Errorf("unknown alias: %v", err)
	}
}

func TestBirthRoundTrip(t *testing.T) {
	a, _ := NewAliases([]string{"Vehicle.Speed", "Vehicle.OBD.EngineLoad", BatteryVoltage})
	st := &wirepb.Status{Header: NewHeader("car", 1, 1), Online: true, Signals: a.Defs()}
	raw, _ := Encode(st)
	m, err := Decode(KindStatus, raw)
	if err != nil {
		t.Fatal(err)
	}
	b, err := AliasesFromBirth(m.(*wirepb.Status))
	if err != nil {
		t.Fatal(err)
	}
	load, _ := b.ByName("Vehicle.OBD.EngineLoad")
	if load.Alias != 2 || load.Value(load.Quantize(50.196078)) != 50.196078 {
		t.Errorf("load %+v: %v", load, load.Value(load.Quantize(50.196078)))
	}
	js, _ := protojson.Marshal(st)
	if !strings.Contains(string(js), "Vehicle.OBD.EngineLoad") {
		t.Error(string(js))
	}
}

// Whatever bytes arrive as any kind, Decode never panics, and what it
// accepts keeps its promises: it encodes and decodes again to the same
// message, holds only finite numbers, well-formed codes and matching
// telemetry columns, and a birth's signals give finite values.
func FuzzDecode(f *testing.F) {
	raw, _ := hex.DecodeString(telemetryVector.hex)
	f.Add(raw, uint8(0))
	h := NewHeader("car-f", 0x1122334455667788, 9)
	a, _ := NewAliases(telemetryVector.names)
	for k, m := range map[Kind]Message{
		KindStatus: &wirepb.Status{Header: h, Online: true, TimeMs: 1763800000000, AgentVersion: "dev", Vin: "WVWZZZ1JZXW000001",
			Adapter: "ELM327 v1.5", Protocol: "ISO 15765-4 (CAN 11/500)", Signals: a.Defs()},
		KindDTC: &wirepb.DTCReport{Header: h, TimeMs: 1763800000000, Mil: true, Stored: []*wirepb.Code{{Code: "P0217", Ecu: "7E8"}},
			FreezeFrames: []*wirepb.FreezeFrame{{Ecu: "7E8", Dtc: "P0217", Values: []*wirepb.Value{{Signal: "Vehicle.Speed", Value: 88, Unit: "km/h"}}}},
			Monitors:     []*wirepb.Monitor{{Name: "catalyst", Supported: true}}},
		KindEvent:         &wirepb.Event{Header: h, TimeMs: 1763800000000, Kind: &wirepb.Event_TripEnd{TripEnd: &wirepb.TripEnd{TripId: 1, DistanceKm: 12.5, DurationS: 900, FuelUsedL: 0.9, MaxCoolantC: 96}}},
		KindCommand:       &wirepb.Command{Header: h, Id: "c-1", IssuedMs: 1, ExpiresMs: 2, Signature: make([]byte, 32), Action: &wirepb.Command_SetPollPlan{SetPollPlan: &wirepb.SetPollPlan{Tiers: []*wirepb.PollTier{{Hz: 2, Signals: []string{"0C"}}}}}},
		KindCommandResult: &wirepb.CommandResult{Header: h, Id: "c-1", Ok: false, Error: "refused", Json: []byte(`{"x":1}`)},
	} {
		b, err := Encode(m)
		if err != nil {
			f.Fatal(err)
		}
		for i, kk := range kinds {
			if kk == k {
				f.Add(b, uint8(i))
			}
		}
	}
	f.Fuzz(func(t *testing.T, payload []byte, k uint8) {
		kind := kinds[int(k)%len(kinds)]
		m, err := Decode(kind, payload)
		if err != nil {
			if !errors.Is(err, ErrPayload) && !errors.Is(err, ErrSchema) && !errors.Is(err, ErrDevice) {
				t.Fatalf("an error of no known kind: %v", err)
			}
			return
		}
		again, err := Encode(m)
		if err != nil {
			t.Fatal(err)
		}
		m2, err := Decode(kind, again)
		if err != nil || !proto.Equal(m, m2) {
			t.Fatalf("re-encoded, it decodes as %v, %v", m2, err)
		}
		if err := checkFinite(m.ProtoReflect(), kind); err != nil {
			t.Fatal(err)
		}
		switch x := m.(type) {
		case *wirepb.Telemetry:
			if n := len(x.GetAlias()); len(x.GetDtMs()) != n || len(x.GetValue()) != n || n > MaxSamples {
				t.Fatalf("columns %d %d %d", n, len(x.GetDtMs()), len(x.GetValue()))
			}
			_, _ = Samples(x, a)
		case *wirepb.DTCReport:
			for _, c := range append(append(append([]*wirepb.Code{}, x.GetStored()...), x.GetPending()...), x.GetPermanent()...) {
				if ValidCode(c.GetCode()) != nil || len(c.GetEcu()) > MaxECULen {
					t.Fatalf("code %q from ECU %q accepted", c.GetCode(), c.GetEcu())
				}
			}
		case *wirepb.Status:
			if len(payload) > MaxStatus {
				t.Fatalf("a status of %d bytes", len(payload))
			}
			if b, err := AliasesFromBirth(x); err == nil {
				for _, d := range b.Defs() {
					s, _ := b.ByAlias(d.GetAlias())
					for _, q := range []int64{math.MinInt64, 0, math.MaxInt64} {
						if v := s.Value(q); math.IsNaN(v) || math.IsInf(v, 0) {
							t.Fatalf("signal %+v gives %v for %d", s, v, q)
						}
					}
				}
			}
		case *wirepb.Command:
			_ = VerifyCommand(make([]byte, CommandKeySize), x.GetHeader().GetDeviceId(), x, time.UnixMilli(1), time.Minute)
		}
	})
}

func TestValidSignalName(t *testing.T) {
	for _, ok := range []string{"Vehicle.Speed", "Vehicle.OBD.O2WR.Sensor1.Lambda", "Vehicle.Pitwall.Fuel_Rail2", "Vehicle.Body.Battery.Voltage"} {
		if err := ValidSignalName(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "Vehicle..Speed", ".Vehicle", "Vehicle.Speed ", "Vehicle,Speed", "Vehicle.Sp=eed", `Vehicle.Speed\`, "1Vehicle", "Vehicle.Speed\n", "Véhicule.Speed", strings.Repeat("A", 129)} {
		if err := ValidSignalName(bad); !errors.Is(err, ErrPayload) {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

// Every signal an agent can announce passes the receiver's check.
func TestCatalogNamesValid(t *testing.T) {
	n := 0
	for _, p := range obd.PIDs() {
		for _, f := range p.Fields {
			n++
			if err := ValidSignalName(f.Signal); err != nil {
				t.Errorf("PID %s: %v", p.PID, err)
			}
		}
	}
	if err := ValidSignalName(BatteryVoltage); err != nil || n < 100 {
		t.Errorf("%d names; battery: %v", n, err)
	}
}
