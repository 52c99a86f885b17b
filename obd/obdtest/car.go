// Package obdtest provides a scripted car for tests: ECUs with fixed PID
// values, trouble codes, freeze frames and vehicle information that answer
// J1979 requests the way real modules do, as an obd.Transport or as the
// message source behind a fake adapter or CAN node.
package obdtest

import (
	"context"
	"fmt"
	"sort"
	"sync"

	"github.com/pitwall-io/pitwall/obd"
)

// ECU is one scripted module.
type ECU struct {
	Addr obd.ECU
	// PIDs holds the data bytes each supported service 01 PID answers with.
	// The bitmaps are derived from it.
	PIDs map[obd.PID][]byte
	// Stored, Pending and Permanent are the codes of services 03, 07, 0A.
	Stored, Pending, Permanent []obd.DTC
	// FreezeDTC and Freeze are freeze frame 0; FreezeDTC 0 means none.
	FreezeDTC obd.DTC
	Freeze    map[obd.PID][]byte
	// Tests are the service 06 results of each monitor (CAN only); the
	// supported-MID maps are derived from the keys.
	Tests map[obd.MonitorID][]obd.TestRecord
	// Vehicle information (service 09); empty fields are unsupported.
	VIN    string
	CalIDs []string
	CVNs   [][]byte
	Name   string
	// RefusePacked makes the ECU ignore service 01 requests with more than
	// one PID, as some do.
	RefusePacked bool
	// Silent09 makes the ECU ignore service 09 entirely.
	Silent09 bool
	// Refuse makes the ECU answer the requests given in hex (e.g. "0900",
	// "0100") as the Refusal says instead of answering them, as many real
	// ECUs do with their supported maps.
	Refuse map[string]Refusal
}

// Refusal is how an ECU fails to answer a request.
type Refusal int

// The ways of not answering.
const (
	// RefuseSilent: no answer at all (an ELM327 prints NO DATA).
	RefuseSilent Refusal = iota + 1
	// RefuseNegative: 7F, the service, 12 (sub-function not supported).
	RefuseNegative
	// RefuseEmpty: a supported map with no bit set.
	RefuseEmpty
)

// Car answers requests from its ECUs.
type Car struct {
	ECUs []*ECU
	// Legacy lays out trouble codes and vehicle information as the pre-CAN
	// protocols do, and refuses packed requests.
	Legacy bool

	mu       sync.Mutex
	Requests []obd.Request // every request received, for assertions
	Cleared  int           // ECUs that honoured a service 04 request
}

// Sent returns the requests received so far, in hex, e.g. "010C0D".
func (c *Car) Sent() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]string, len(c.Requests))
	for i, r := range c.Requests {
		out[i] = r.String()
	}
	return out
}

// Do implements obd.Transport.
func (c *Car) Do(ctx context.Context, req obd.Request) ([]obd.Response, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	out := c.Answer(req)
	if len(out) == 0 {
		return nil, fmt.Errorf("obdtest: %s: %w", req, obd.ErrNoData)
	}
	return out, nil
}

// Protocol reports ISO 15765-4 CAN, or ISO 9141-2 for a legacy car.
func (c *Car) Protocol() obd.Protocol {
	if c.Legacy {
		return obd.ProtocolISO9141
	}
	return obd.ProtocolCAN11_500
}

// Answer returns every ECU's messages for req, ECUs in address order.
func (c *Car) Answer(req obd.Request) []obd.Response {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.Requests = append(c.Requests, req)
	ecus := append([]*ECU(nil), c.ECUs...)
	sort.Slice(ecus, func(i, j int) bool { return ecus[i].Addr < ecus[j].Addr })
	var out []obd.Response
	for _, e := range ecus {
		for _, m := range c.answer(e, req) {
			out = append(out, obd.Response{ECU: e.Addr, Data: m})
		}
	}
	return out
}

func (c *Car) answer(e *ECU, req obd.Request) [][]byte {
	reply := req.Service.Reply()
	switch e.Refuse[fmt.Sprintf("%X", req.Bytes())] {
	case RefuseSilent:
		return nil
	case RefuseNegative:
		return [][]byte{{0x7F, byte(req.Service), byte(obd.NRCSubFunctionNotSupported)}}
	case RefuseEmpty:
		return [][]byte{append([]byte{reply}, append(req.Data, 0, 0, 0, 0)...)}
	}
	switch req.Service {
	case obd.ServiceCurrentData:
		if len(req.Data) == 0 || len(req.Data) > obd.MaxPack || len(req.Data) > 1 && (e.RefusePacked || c.Legacy) {
			return nil
		}
		msg := []byte{reply}
		for _, b := range req.Data {
			p := obd.PID(b)
			if d, ok := pidData(e.PIDs, p); ok {
				msg = append(append(msg, b), d...)
			}
		}
		if len(msg) == 1 {
			return nil
		}
		return [][]byte{msg}
	case obd.ServiceFreezeFrame:
		if e.FreezeDTC == 0 || len(req.Data)%2 != 0 || len(req.Data) == 0 {
			return nil
		}
		frame := map[obd.PID][]byte{0x02: {byte(e.FreezeDTC >> 8), byte(e.FreezeDTC)}}
		for p, d := range e.Freeze {
			frame[p] = d
		}
		msg := []byte{reply}
		for i := 0; i < len(req.Data); i += 2 {
			if req.Data[i+1] != 0 {
				continue
			}
			if d, ok := pidData(frame, obd.PID(req.Data[i])); ok {
				msg = append(append(msg, req.Data[i], 0), d...)
			}
		}
		if len(msg) == 1 {
			return nil
		}
		return [][]byte{msg}
	case obd.ServiceStoredDTCs:
		return c.codes(reply, e.Stored)
	case obd.ServicePendingDTCs:
		return c.codes(reply, e.Pending)
	case obd.ServicePermanentDTCs:
		if c.Legacy {
			return nil // older cars do not know service 0A
		}
		return c.codes(reply, e.Permanent)
	case obd.ServiceClearDTCs:
		e.Stored, e.Pending, e.FreezeDTC, e.Freeze = nil, nil, 0, nil
		c.Cleared++
		return [][]byte{{reply}}
	case obd.ServiceTestResults:
		if c.Legacy || len(req.Data) != 1 || len(e.Tests) == 0 {
			return nil
		}
		return testResults(e.Tests, obd.MonitorID(req.Data[0]))
	case obd.ServiceVehicleInfo:
		if e.Silent09 || len(req.Data) != 1 {
			return nil
		}
		return c.info(e, req.Data[0])
	}
	if req.ECU == "" {
		return nil // a functional request for an unsupported service gets silence
	}
	return [][]byte{{0x7F, byte(req.Service), byte(obd.NRCServiceNotSupported)}}
}

// pidData answers a PID from a table, computing supported-PID bitmaps
// from the table's keys.
func pidData(table map[obd.PID][]byte, p obd.PID) ([]byte, bool) {
	if !p.IsBitmap() {
		d, ok := table[p]
		return d, ok
	}
	var s obd.PIDSet
	for q := range table {
		switch {
		case q > p && q <= p+0x20:
			s.Add(q)
		case q > p+0x20:
			s.Add(p + 0x20) // announce the next bitmap when PIDs lie beyond
		}
	}
	if s.Len() == 0 && p != 0 {
		return nil, false
	}
	return obd.EncodeBitmap(p, s), true
}

// testResults answers service 06 for one monitor or a supported-MID map.
func testResults(tests map[obd.MonitorID][]obd.TestRecord, m obd.MonitorID) [][]byte {
	if m.IsMap() {
		table := map[obd.PID][]byte{}
		for mid := range tests {
			table[obd.PID(mid)] = nil
		}
		d, ok := pidData(table, obd.PID(m))
		if !ok {
			return nil
		}
		return [][]byte{append([]byte{obd.ServiceTestResults.Reply(), byte(m)}, d...)}
	}
	recs, ok := tests[m]
	if !ok {
		return nil
	}
	msg, err := obd.EncodeTestResults(recs)
	if err != nil {
		panic(err) // a test car with a bad record is a bug in the test
	}
	return [][]byte{msg}
}

func (c *Car) framing() obd.Framing {
	if c.Legacy {
		return obd.FramingLegacy
	}
	return obd.FramingCAN
}

func (c *Car) codes(reply byte, codes []obd.DTC) [][]byte {
	return obd.EncodeDTCs(obd.Service(reply-0x40), c.framing(), codes)
}

func (c *Car) info(e *ECU, typ byte) [][]byte {
	items := map[byte][][]byte{}
	if e.VIN != "" {
		items[obd.InfoVIN] = [][]byte{[]byte(e.VIN)}
	}
	for _, id := range e.CalIDs {
		items[obd.InfoCalibrationID] = append(items[obd.InfoCalibrationID], obd.PadItem(id, 16))
	}
	if len(e.CVNs) > 0 {
		items[obd.InfoCVN] = e.CVNs
	}
	if e.Name != "" {
		items[obd.InfoECUName] = [][]byte{obd.PadItem(e.Name, 20)}
	}
	if typ == obd.InfoSupported {
		var types []byte
		for t := range items {
			types = append(types, t)
		}
		return [][]byte{obd.EncodeInfoSupported(c.framing(), types...)}
	}
	its, ok := items[typ]
	if !ok {
		return nil
	}
	return obd.EncodeInfo(typ, c.framing(), its)
}

var _ obd.Transport = (*Car)(nil)
