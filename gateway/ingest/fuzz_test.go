package ingest

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/pitwall-io/pitwall/gateway/wire"
	"github.com/pitwall-io/pitwall/gateway/wire/wirepb"
	"github.com/pitwall-io/pitwall/series"
	"github.com/pitwall-io/pitwall/store"
)

// nowhere is a journal and a series writer that keep nothing.
type nowhere struct{}

func (nowhere) SaveMessages(context.Context, []store.Message) error { return nil }
func (nowhere) SaveBirth(context.Context, string, uint64, uint64, time.Time, []byte) error {
	return nil
}
func (nowhere) Birth(context.Context, string, uint64) ([]byte, error)    { return nil, store.ErrNotFound }
func (nowhere) SaveStatuses(context.Context, []store.DeviceStatus) error { return nil }
func (nowhere) VehicleOfDevice(context.Context, string) (store.Vehicle, error) {
	return store.Vehicle{}, store.ErrNotFound
}
func (nowhere) Write(context.Context, []series.Point) error { return nil }

// Whatever arrives from the network, checking it never panics, and a
// message is either refused with a reason or carries what it claims.
func FuzzPrepare(f *testing.F) {
	b, _ := wire.Encode(birth("car-f", 1, 1))
	tl, _ := wire.Encode(telemetry("car-f", 1, 2, time.Now(), 12))
	f.Add("pitwall/v1/car-f/status", b)
	f.Add("pitwall/v1/car-f/telemetry", tl)
	f.Add("pitwall/v1/car-f/dtc", []byte{0x0a, 0x02, 0x08, 0x01})
	f.Add("pitwall/v1/car-f/cmd/result", []byte{})
	f.Add("nonsense", []byte("x"))
	now := time.Now().UnixMilli()
	for k, m := range map[wire.Kind]wire.Message{
		wire.KindDTC: &wirepb.DTCReport{Header: wire.NewHeader("car-f", 1, 3), TimeMs: now, Mil: true, Stored: []*wirepb.Code{{Code: "P0217", Ecu: "7E8"}},
			FreezeFrames: []*wirepb.FreezeFrame{{Ecu: "7E8", Dtc: "P0217", Values: []*wirepb.Value{{Signal: "Vehicle.Speed", Value: 50, Unit: "km/h"}}}}},
		wire.KindEvent:         &wirepb.Event{Header: wire.NewHeader("car-f", 1, 4), TimeMs: now, Kind: &wirepb.Event_TripStart{TripStart: &wirepb.TripStart{TripId: 1, OdometerKm: 12345.6}}},
		wire.KindCommandResult: &wirepb.CommandResult{Header: wire.NewHeader("car-f", 1, 5), Id: "c-1", Error: "refused: the command came as a retained message; the car was not touched"},
	} {
		raw, _ := wire.Encode(m)
		f.Add(wire.Topic("car-f", k), raw)
	}
	huge := birth("car-f", 2, 6)
	huge.Signals[0].Scale = 1e308
	raw, _ := wire.Encode(huge)
	f.Add("pitwall/v1/car-f/status", raw)
	in, err := New(Config{Broker: BrokerConfig{ClientID: "fuzz"}, BirthWait: time.Millisecond}, nowhere{}, nowhere{})
	if err != nil {
		f.Fatal(err)
	}
	// A birth releases the telemetry parked for it straight into the
	// queue: empty it as the writer would.
	go func() {
		for range in.queue {
		}
	}()
	f.Fuzz(func(t *testing.T, topic string, payload []byte) {
		j := in.prepare(&directMessage{topic: topic, payload: payload, acked: make(chan struct{})})
		if j == nil {
			return // parked for its birth
		}
		if j.reject == "" && j.device == "" {
			t.Fatalf("accepted a message for no device: %q", topic)
		}
		for _, p := range j.points {
			if p.Device != j.device || len(p.Fields) == 0 {
				t.Fatalf("a point of %q for %q with %d fields", j.device, p.Device, len(p.Fields))
			}
			for _, f := range p.Fields {
				if wire.ValidSignalName(f.Signal) != nil {
					t.Fatalf("an invalid signal name got through: %q", f.Signal)
				}
				if math.IsNaN(f.Value) || math.IsInf(f.Value, 0) {
					t.Fatalf("a value of %v for %s got through", f.Value, f.Signal)
				}
			}
		}
		if j.reject != "" {
			return
		}
		if r, ok := j.decoded.(*wirepb.DTCReport); ok {
			for _, c := range append(append(append([]*wirepb.Code{}, r.GetStored()...), r.GetPending()...), r.GetPermanent()...) {
				if wire.ValidCode(c.GetCode()) != nil {
					t.Fatalf("the code %q got through", c.GetCode())
				}
			}
		}
		if st, ok := j.decoded.(*wirepb.Status); ok && st.GetOnline() {
			a, err := wire.AliasesFromBirth(st)
			if err != nil {
				t.Fatalf("a birth the ingest took has a bad signal table: %v", err)
			}
			for _, d := range st.GetSignals() {
				s, _ := a.ByAlias(d.GetAlias())
				for _, q := range []int64{math.MinInt64, math.MaxInt64} {
					if v := s.Value(q); math.IsNaN(v) || math.IsInf(v, 0) {
						t.Fatalf("a birth the ingest took gives %v for %s", v, s.Name)
					}
				}
			}
		}
	})
}
