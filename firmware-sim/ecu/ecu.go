// Package ecu makes the simulated car's ECUs: an engine module (answers
// on 7E8) and a transmission module (7E9) that answer J1979 services 01,
// 02, 03, 04, 07, 09 and 0A from the car's state, with the response times
// of real modules, directly or over ISO-TP on a CAN frame bus.
package ecu

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pitwall-io/pitwall/firmware-sim/car"
	"github.com/pitwall-io/pitwall/obd"
	"github.com/pitwall-io/pitwall/obd/isotp"
)

// Module is one simulated ECU.
type Module struct {
	Addr  obd.ECU // the identifier it answers on, e.g. "7E8"
	Name  string  // service 09 ECU name, acronym and name
	CalID string
	CVN   []byte
	// Latency is the module's typical response time; each answer takes it
	// give or take a fifth, never more than P2 (50 ms).
	Latency time.Duration

	car     *car.Car
	clock   *car.Clock
	pids    obd.PIDSet
	freeze  obd.PIDSet
	mids    obd.PIDSet // service 06 monitors (engine only)
	refuse  map[string]bool
	engine  bool
	framing obd.Framing

	mu  sync.Mutex
	rng *rand.Rand
}

// Options shape the modules of a car.
type Options struct {
	// Legacy lays answers out as the pre-CAN protocols do (trouble codes in
	// three-pair messages, service 09 in numbered four-byte messages).
	Legacy bool
	// Extended puts the modules on 29-bit identifiers (18DAF110 and
	// 18DAF118) instead of 7E8 and 7E9.
	Extended bool
	// Seed varies the response times.
	Seed uint64
	// Refuse lists requests, in hex ("0900", "0100"), the modules do not
	// answer, as many real ECUs do with their supported maps.
	Refuse []string
}

// enginePIDs are the service 01 PIDs the engine module supports.
var enginePIDs = []obd.PID{0x01, 0x03, 0x04, 0x05, 0x06, 0x07, 0x0B, 0x0C, 0x0D, 0x0E, 0x0F, 0x10, 0x11, 0x13,
	0x14, 0x15, 0x1C, 0x1F, 0x21, 0x2F, 0x30, 0x31, 0x32, 0x33, 0x3C, 0x41, 0x42, 0x43, 0x45, 0x46, 0x4D, 0x4E,
	0x51, 0x5C, 0x5E, 0xA6}

// freezePIDs are the PIDs a freeze frame holds.
var freezePIDs = []obd.PID{0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x0B, 0x0C, 0x0D, 0x0E, 0x0F, 0x11}

// transmissionPIDs are the service 01 PIDs the transmission module supports.
var transmissionPIDs = []obd.PID{0x01, 0x0D, 0xA4}

// Modules builds the engine and transmission modules of a car. clock says
// what time it is in the car's world; each answer first brings the car up
// to that time. With the ignition off the modules do not answer.
func Modules(c *car.Car, clock *car.Clock, opt Options) []*Module {
	framing := obd.FramingCAN
	if opt.Legacy {
		framing = obd.FramingLegacy
	}
	eng := &Module{Addr: "7E8", Name: "ECM\x00-EngineControl", CalID: "PWSIM-ECM-1.0.4", CVN: []byte{0x4D, 0x1A, 0x70, 0x3C},
		Latency: 12 * time.Millisecond, car: c, clock: clock, engine: true, framing: framing,
		rng: rand.New(rand.NewPCG(opt.Seed, 1))}
	tcm := &Module{Addr: "7E9", Name: "TCM\x00-TransmissionCtl", CalID: "PWSIM-TCM-2.1", CVN: []byte{0x91, 0x0E, 0x22, 0xB7},
		Latency: 20 * time.Millisecond, car: c, clock: clock, framing: framing,
		rng: rand.New(rand.NewPCG(opt.Seed, 2))}
	for _, p := range enginePIDs {
		eng.pids.Add(p)
	}
	for _, p := range freezePIDs {
		eng.freeze.Add(p)
	}
	for _, p := range transmissionPIDs {
		tcm.pids.Add(p)
	}
	for _, mid := range []obd.MonitorID{obd.MIDO2Bank1Sensor1, obd.MIDCatalystBank1, obd.MIDMisfire} {
		eng.mids.Add(obd.PID(mid))
	}
	for n := 1; n <= c.Spec().Cylinders; n++ {
		eng.mids.Add(obd.PID(obd.MisfireMID(n)))
	}
	for _, m := range []*Module{eng, tcm} {
		m.refuse = map[string]bool{}
		for _, r := range opt.Refuse {
			m.refuse[strings.ToUpper(r)] = true
		}
	}
	switch {
	case opt.Legacy: // the older protocols name the sender by its source byte
		eng.Addr, tcm.Addr = "10", "18"
	case opt.Extended:
		eng.Addr, tcm.Addr = "18DAF110", "18DAF118"
	}
	return []*Module{eng, tcm}
}

// ResponseTime draws how long the module takes to answer one request.
func (m *Module) ResponseTime() time.Duration {
	m.mu.Lock()
	defer m.mu.Unlock()
	d := time.Duration(float64(m.Latency) * (1 + 0.2*m.rng.NormFloat64()))
	return max(2*time.Millisecond, min(d, 50*time.Millisecond))
}

// Answer returns the module's messages for a request; none when the module
// stays silent, as an ECU does for a PID it does not support, or for an
// unsupported service asked of every ECU at once (ISO 15765-4 keeps
// negative answers to physical requests). req.ECU set means the request was
// addressed to this module alone.
func (m *Module) Answer(req obd.Request) [][]byte {
	if m.refuse[req.String()] {
		m.car.AdvanceTo(m.clock.Sim())
		return nil
	}
	msgs := m.answer(req)
	if req.ECU == "" && len(msgs) == 1 && len(msgs[0]) == 3 && msgs[0][0] == 0x7F {
		return nil
	}
	return msgs
}

func (m *Module) answer(req obd.Request) [][]byte {
	m.car.AdvanceTo(m.clock.Sim())
	if !m.car.Ignition() {
		return nil // a parked car's modules sleep
	}
	switch req.Service {
	case obd.ServiceCurrentData:
		return m.currentData(req.Data)
	case obd.ServiceFreezeFrame:
		return m.freezeFrame(req.Data)
	case obd.ServiceStoredDTCs, obd.ServicePendingDTCs, obd.ServicePermanentDTCs:
		if !m.engine {
			if req.Service == obd.ServicePermanentDTCs && m.framing == obd.FramingLegacy {
				return nil
			}
			return obd.EncodeDTCs(req.Service, m.framing, nil)
		}
		s := m.car.State()
		codes := map[obd.Service][]obd.DTC{obd.ServiceStoredDTCs: s.Stored, obd.ServicePendingDTCs: s.Pending, obd.ServicePermanentDTCs: s.Permanent}[req.Service]
		if req.Service == obd.ServicePermanentDTCs && m.framing == obd.FramingLegacy {
			return nil // the older protocols have no service 0A
		}
		return obd.EncodeDTCs(req.Service, m.framing, codes)
	case obd.ServiceClearDTCs:
		if m.engine {
			m.car.ClearDTCs()
		}
		return [][]byte{{obd.ServiceClearDTCs.Reply()}}
	case obd.ServiceVehicleInfo:
		if len(req.Data) != 1 {
			return [][]byte{{0x7F, byte(req.Service), byte(obd.NRCIncorrectLength)}}
		}
		return m.vehicleInfo(req.Data[0])
	case obd.ServiceTestResults:
		// The older protocols' layout of service 06 is not modelled; the
		// transmission runs no emission monitors.
		if !m.engine || m.framing == obd.FramingLegacy || len(req.Data) != 1 {
			return nil
		}
		return m.testResults(obd.MonitorID(req.Data[0]))
	}
	return [][]byte{{0x7F, byte(req.Service), byte(obd.NRCServiceNotSupported)}}
}

func (m *Module) currentData(pids []byte) [][]byte {
	if len(pids) == 0 || len(pids) > obd.MaxPack || len(pids) > 1 && m.framing == obd.FramingLegacy {
		return nil
	}
	s := m.car.State()
	msg := []byte{obd.ServiceCurrentData.Reply()}
	for _, b := range pids {
		if d := m.pidData(obd.PID(b), s, m.pids); d != nil {
			msg = append(append(msg, b), d...)
		}
	}
	if len(msg) == 1 {
		return nil
	}
	return [][]byte{msg}
}

func (m *Module) freezeFrame(data []byte) [][]byte {
	if !m.engine || len(data) == 0 || len(data)%2 != 0 {
		return nil
	}
	s := m.car.State()
	if s.Freeze == nil {
		// No frame stored: only PID 02 answers, with code 0000.
		if data[0] == 0x02 && data[1] == 0 {
			return [][]byte{{obd.ServiceFreezeFrame.Reply(), 0x02, 0, 0, 0}}
		}
		return nil
	}
	fs := s.Freeze.State
	msg := []byte{obd.ServiceFreezeFrame.Reply()}
	for i := 0; i+1 < len(data); i += 2 {
		p, frame := obd.PID(data[i]), data[i+1]
		if frame != 0 {
			continue
		}
		var d []byte
		if p == 0x02 {
			d = []byte{byte(s.Freeze.DTC >> 8), byte(s.Freeze.DTC)}
		} else {
			d = m.pidData(p, fs, m.freeze)
		}
		if d != nil {
			msg = append(append(msg, byte(p), frame), d...)
		}
	}
	if len(msg) == 1 {
		return nil
	}
	return [][]byte{msg}
}

func (m *Module) vehicleInfo(info byte) [][]byte {
	items := map[byte][][]byte{
		obd.InfoCalibrationID: {obd.PadItem(m.CalID, 16)},
		obd.InfoCVN:           {m.CVN},
		obd.InfoECUName:       {obd.PadItem(m.Name, 20)},
	}
	if m.engine {
		items[obd.InfoVIN] = [][]byte{[]byte(m.car.Spec().VIN)}
	}
	if info == obd.InfoSupported {
		var types []byte
		for t := range items {
			types = append(types, t)
		}
		return [][]byte{obd.EncodeInfoSupported(m.framing, types...)}
	}
	it, ok := items[info]
	if !ok {
		return nil
	}
	return obd.EncodeInfo(info, m.framing, it)
}

// testResults answers service 06 for one monitor, or a supported-MID map,
// from what the car's monitors measured.
func (m *Module) testResults(mid obd.MonitorID) [][]byte {
	if mid.IsMap() {
		b := bitmap(obd.PID(mid), m.mids)
		if b == nil {
			return nil
		}
		return [][]byte{append([]byte{obd.ServiceTestResults.Reply(), byte(mid)}, b...)}
	}
	if !m.mids.Has(obd.PID(mid)) {
		return nil
	}
	s := m.car.State()
	const volts, ms, ratio, counts = 0x0A, 0x10, 0x20, 0x24
	var recs []obd.TestRecord
	rec := func(tid obd.TestID, us byte, v, lo, hi float64) {
		recs = append(recs, obd.TestRecord{MID: mid, TID: tid, UnitScaling: us, Value: v, Min: lo, Max: hi})
	}
	misfire := func(count, avg float64) {
		rec(obd.TIDMisfireAverage, counts, avg, 0, 65535)
		rec(obd.TIDMisfireCount, counts, count, 0, 65535)
	}
	switch {
	case mid == obd.MIDO2Bank1Sensor1:
		rec(obd.TIDRichToLeanThreshold, volts, 0.45, 0.45, 0.45)
		rec(obd.TIDLeanToRichThreshold, volts, 0.45, 0.45, 0.45)
		rec(obd.TIDMinVoltage, volts, s.O2MinVoltage, 0, 0.25)   // it must reach lean
		rec(obd.TIDMaxVoltage, volts, s.O2MaxVoltage, 0.65, 1.1) // and rich
		rec(obd.TIDSensorPeriod, ms, s.O2Period*1000, 0, 1600)   // P0133 beyond
	case mid == obd.MIDCatalystBank1:
		rec(0x80, ratio, s.CatalystRatio, 0, 0.6) // P0420 beyond
	case mid == obd.MIDMisfire:
		var count, avg float64
		for i := range s.MisfireCount {
			count += float64(s.MisfireCount[i])
			avg += s.MisfireAverage[i]
		}
		misfire(count, avg)
	default: // a cylinder's misfire monitor
		n := int(mid - obd.MIDMisfireCyl1)
		misfire(float64(s.MisfireCount[n]), s.MisfireAverage[n])
	}
	msg, err := obd.EncodeTestResults(recs)
	if err != nil {
		panic(err) // the records above use J1979's scalings
	}
	return [][]byte{msg}
}

// Port is one node's connection to a CAN bus.
type Port interface {
	isotp.Bus
	Close() error
}

// Opener connects a node that listens to the given identifiers.
type Opener func(ids []uint32, extended bool) (Port, error)

// OnMemBus opens nodes on an in-process bus.
func OnMemBus(bus *isotp.MemBus) Opener {
	return func(ids []uint32, extended bool) (Port, error) {
		return bus.Port(func(f isotp.Frame) bool { return f.Extended == extended && slices.Contains(ids, f.ID) }), nil
	}
}

// ServeCAN puts the modules on a CAN bus, each answering over ISO-TP after
// its response time. The modules are listening when ServeCAN returns;
// they stop when ctx ends, and wait waits for that.
func ServeCAN(ctx context.Context, open Opener, modules []*Module) (wait func(), err error) {
	var wg sync.WaitGroup
	var ports []Port
	for _, m := range modules {
		id64, _ := strconv.ParseUint(string(m.Addr), 16, 32)
		id, extended := uint32(id64), len(m.Addr) > 3
		functional := uint32(isotp.FunctionalID11)
		if extended {
			functional = isotp.FunctionalID29
		}
		port, err := open([]uint32{functional, isotp.RequestIDFor(id, extended)}, extended)
		if err != nil {
			for _, p := range ports {
				p.Close()
			}
			return nil, fmt.Errorf("ecu: %s: %w", m.Addr, err)
		}
		ports = append(ports, port)
		wg.Add(1)
		go func(m *Module) {
			defer wg.Done()
			defer port.Close()
			_ = isotp.ServeECU(ctx, port, id, extended, isotp.Options{Padding: 0x55}, func(ctx context.Context, b []byte, functional bool) [][]byte {
				req := obd.Request{Service: obd.Service(b[0]), Data: b[1:]}
				if !functional {
					req.ECU = m.Addr
				}
				msgs := m.Answer(req)
				if len(msgs) > 0 {
					// Response times are real time: a faster simulated
					// clock does not make the module answer sooner.
					t := time.NewTimer(m.ResponseTime())
					select {
					case <-t.C:
					case <-ctx.Done():
						t.Stop()
					}
				}
				return msgs
			})
		}(m)
	}
	return wg.Wait, nil
}

// Direct reaches the modules without a bus: a request goes to each and
// their answers come back at once. Fleets of simulated cars use it where
// only the values matter, not the adapter's timing.
type Direct []*Module

// Do implements obd.Transport.
func (d Direct) Do(ctx context.Context, req obd.Request) ([]obd.Response, error) {
	var out []obd.Response
	for _, m := range d {
		if req.ECU != "" && req.ECU != m.Addr {
			continue
		}
		for _, msg := range m.Answer(req) {
			out = append(out, obd.Response{ECU: m.Addr, Data: msg})
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("ecu: %s: %w", req, obd.ErrNoData)
	}
	return out, nil
}

// Protocol reports the modules' framing.
func (d Direct) Protocol() obd.Protocol {
	if len(d) > 0 && d[0].framing == obd.FramingLegacy {
		return obd.ProtocolISO9141
	}
	return obd.ProtocolCAN11_500
}

var _ obd.Transport = Direct(nil)
