package obd

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
)

// ECUCode is a trouble code and the ECU that reported it.
type ECUCode struct {
	Code DTC `json:"code"`
	ECU  ECU `json:"ecu"`
}

// DTCs reads the trouble codes of service 03 (stored), 07 (pending) or 0A
// (permanent) from every ECU. ECUs answering with no codes contribute
// nothing; a request no ECU answers returns an error matching ErrNoData
// (older cars do not know service 0A).
func (c *Client) DTCs(ctx context.Context, svc Service) ([]ECUCode, error) {
	switch svc {
	case ServiceStoredDTCs, ServicePendingDTCs, ServicePermanentDTCs:
	default:
		return nil, fmt.Errorf("obd: service %s does not report trouble codes", svc)
	}
	// Every emissions ECU answers these, with no codes if it has none.
	resp, err := c.t.Do(ctx, Request{Service: svc, Expect: c.knownECUs()})
	if err != nil {
		return nil, fmt.Errorf("obd: reading trouble codes (service %s): %w", svc, err)
	}
	framing := FramingFor(c.Protocol())
	var out []ECUCode
	var errs []error
	for _, g := range groupByECU(resp) {
		if neg := negative(g.first()); neg != nil {
			errs = append(errs, neg)
			continue
		}
		codes, err := DecodeDTCs(svc, framing, g.msgs...)
		if err != nil {
			errs = append(errs, fmt.Errorf("ECU %s: %w", g.ecu, err))
			continue
		}
		for _, d := range codes {
			out = append(out, ECUCode{Code: d, ECU: g.ecu})
		}
	}
	if len(out) == 0 && len(errs) > 0 && len(errs) == len(groupByECU(resp)) {
		return nil, errors.Join(errs...)
	}
	return out, errors.Join(errs...)
}

// ClearDTCs sends service 04: it erases stored and pending codes and freeze
// frames, and resets every readiness monitor, so the car will fail an
// emissions inspection until it has been driven enough. confirm must be
// true; Pitwall never clears codes by default.
func (c *Client) ClearDTCs(ctx context.Context, confirm bool) error {
	if !confirm {
		return ErrNotConfirmed
	}
	resp, err := c.t.Do(ctx, Request{Service: ServiceClearDTCs})
	if err != nil {
		return fmt.Errorf("obd: clearing trouble codes: %w", err)
	}
	for _, r := range resp {
		if neg := negative(r); neg != nil {
			return neg
		}
	}
	c.Forget()
	return nil
}

// Status reads PID 01 from every ECU: MIL, code count and readiness.
func (c *Client) Status(ctx context.Context) (map[ECU]*MonitorStatus, error) {
	rs, err := c.Read(ctx, 0x01)
	out := map[ECU]*MonitorStatus{}
	for _, r := range rs {
		if s, ok := r.Value.Detail.(*MonitorStatus); ok {
			out[r.ECU] = s
		}
	}
	if len(out) == 0 {
		if err == nil {
			err = fmt.Errorf("obd: no monitor status: %w", ErrNoData)
		}
		return nil, err
	}
	return out, nil
}

// FreezeFrame is the snapshot an ECU stored when a code was confirmed.
type FreezeFrame struct {
	ECU    ECU       `json:"ecu"`
	Frame  byte      `json:"frame"`
	DTC    DTC       `json:"dtc"`
	Values []Reading `json:"values"`
}

// FreezeFrames reads freeze frame n (0 is the one every car keeps) from
// every ECU that stored one: the code that caused it and each PID it holds.
func (c *Client) FreezeFrames(ctx context.Context, frame byte) ([]FreezeFrame, error) {
	resp, err := c.t.Do(ctx, Request{Service: ServiceFreezeFrame, Data: []byte{0x02, frame}, Expect: c.knownECUs()})
	if err != nil {
		return nil, fmt.Errorf("obd: reading the freeze frame trouble code: %w", err)
	}
	var frames []FreezeFrame
	for _, r := range resp {
		if negative(r) != nil || len(r.Data) < 5 || r.Data[1] != 0x02 {
			continue
		}
		d := DTC(uint16(r.Data[3])<<8 | uint16(r.Data[4]))
		if d != 0 {
			frames = append(frames, FreezeFrame{ECU: r.ECU, Frame: frame, DTC: d})
		}
	}
	if len(frames) == 0 {
		return nil, nil // no ECU holds a freeze frame
	}
	sets, errs, err := c.bitmaps(ctx, ServiceFreezeFrame, []byte{frame}, make([]int, len(frames)))
	if err != nil && ctx.Err() != nil {
		return frames, err
	}
	if sets == nil {
		sets = map[ECU]PIDSet{}
	}
	for _, f := range frames {
		if _, ok := sets[f.ECU]; ok {
			continue
		}
		// The ECU holds a frame but gave no map of it: ask the PIDs freeze
		// frames usually hold, of those it supports in service 01.
		cause := err
		if cause == nil {
			cause = fmt.Errorf("ECU %s: %w", f.ECU, ErrNoData)
		}
		errs = append(errs, &UnansweredError{Service: ServiceFreezeFrame, Item: fmt.Sprintf("frame %d PID 00 (supported-PID map)", frame), Map: true,
			Err: fmt.Errorf("%w; asking the usual freeze frame PIDs instead", cause)})
		var set PIDSet
		live, known := c.supportedBy(f.ECU)
		for _, p := range FreezeFallbackPIDs {
			if !known || live.Has(p) {
				set.Add(p)
			}
		}
		sets[f.ECU] = set
	}
	for i := range frames {
		f := &frames[i]
		// Three PID/frame pairs fit one single frame on CAN; PIDs whose
		// length varies go alone.
		var packable, chunks [][]PID
		var group []PID
		for _, p := range sets[f.ECU].List() {
			if p.IsBitmap() || p == 0x02 {
				continue
			}
			if info, ok := Lookup(p); !ok || !info.Packable() || !c.canPack() {
				chunks = append(chunks, []PID{p})
				continue
			}
			if group = append(group, p); len(group) == 3 {
				packable, group = append(packable, group), nil
			}
		}
		if len(group) > 0 {
			packable = append(packable, group)
		}
		for _, chunk := range append(packable, chunks...) {
			var data []byte
			for _, p := range chunk {
				data = append(data, byte(p), frame)
			}
			resp, err := c.t.Do(ctx, Request{Service: ServiceFreezeFrame, Data: data, Expect: owed(sets, chunk...)})
			if err != nil {
				errs = append(errs, fmt.Errorf("obd: freeze frame PIDs %v: %w", chunk, err))
				continue
			}
			for _, r := range resp {
				if r.ECU != f.ECU || negative(r) != nil {
					continue
				}
				items, err := splitPIDs(ServiceFreezeFrame, r.Data, 1, chunk)
				if err != nil {
					errs = append(errs, err)
				}
				for _, it := range items {
					v, err := Decode(it.pid, it.data, c.scaling[r.ECU])
					if err != nil {
						errs = append(errs, err)
						continue
					}
					f.Values = append(f.Values, Reading{ECU: r.ECU, PID: it.pid, Value: v})
				}
			}
		}
	}
	return frames, errors.Join(errs...)
}

// FreezeFallbackPIDs are the PIDs asked of a freeze frame whose ECU gives
// no map of it: load, temperatures, trims, pressures, speeds.
var FreezeFallbackPIDs = []PID{0x03, 0x04, 0x05, 0x06, 0x07, 0x0B, 0x0C, 0x0D, 0x0E, 0x0F, 0x10, 0x11}

// ECUInfo is what service 09 tells about one ECU.
type ECUInfo struct {
	ECU            ECU      `json:"ecu"`
	VIN            string   `json:"vin,omitempty"`
	CalibrationIDs []string `json:"calibration_ids,omitempty"`
	CVNs           []string `json:"cvns,omitempty"`
	Name           string   `json:"name,omitempty"`
}

// Info types of service 09.
const (
	InfoSupported      = 0x00
	InfoVIN            = 0x02
	InfoCalibrationID  = 0x04
	InfoCVN            = 0x06
	InfoECUName        = 0x0A
	infoItemVIN        = 17
	infoItemCalID      = 16
	infoItemCVN        = 4
	infoItemECUName    = 20
	legacyInfoDataSize = 4
)

// vehicleInfoItems are the service 09 items VehicleInfo reads: info type,
// item size, and what it is.
var vehicleInfoItems = []struct {
	typ  byte
	size int
	name string
}{
	{InfoVIN, infoItemVIN, "VIN"},
	{InfoCalibrationID, infoItemCalID, "calibration IDs"},
	{InfoCVN, infoItemCVN, "calibration verification numbers"},
	{InfoECUName, infoItemECUName, "ECU name"},
}

// VehicleInfo reads service 09 from every ECU: VIN, calibration IDs, CVNs
// and ECU name. Each is asked once of every ECU whatever the supported map
// (info type 00) says, since many ECUs answer items their map leaves out
// or refuse the map itself; the map only tells the transport whom to wait
// for. What no ECU answered, the map included, comes back in the error as
// an *UnansweredError each, beside the information that did come.
func (c *Client) VehicleInfo(ctx context.Context) ([]ECUInfo, error) {
	byECU := map[ECU]*ECUInfo{}
	ecu := func(e ECU) *ECUInfo {
		if byECU[e] == nil {
			byECU[e] = &ECUInfo{ECU: e}
		}
		return byECU[e]
	}
	supported, errs := c.infoMap(ctx)
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	for e := range supported {
		ecu(e)
	}
	for _, it := range vehicleInfoItems {
		var listed []ECU
		for _, e := range sortedECUs(supported) {
			if supported[e].Has(PID(it.typ)) {
				listed = append(listed, e)
			}
		}
		req := Request{Service: ServiceVehicleInfo, Data: []byte{it.typ}}
		if len(listed) > 0 {
			req.Expect = make([]int, len(listed))
		}
		resp, err := c.t.Do(ctx, req)
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		answered, malformedOnly := false, false
		var refused []error
		for _, g := range groupByECU(resp) {
			if neg := negative(g.first()); neg != nil {
				refused = append(refused, neg)
				continue
			}
			items, err := infoItems(it.typ, it.size, g.msgs)
			if err != nil {
				errs = append(errs, fmt.Errorf("ECU %s: %w", g.ecu, err))
				malformedOnly = true
				continue
			}
			applyInfo(ecu(g.ecu), it.typ, items)
			answered = true
		}
		if answered {
			continue
		}
		if err == nil {
			err = errors.Join(refused...)
		}
		if err == nil && malformedOnly {
			continue // the undecodable answers are reported already
		}
		errs = append(errs, &UnansweredError{Service: ServiceVehicleInfo, Item: fmt.Sprintf("info type %02X (%s)", it.typ, it.name),
			Listed: listed, Mapless: len(supported) == 0, Err: err})
	}
	out := make([]ECUInfo, 0, len(byECU))
	for _, e := range byECU {
		out = append(out, *e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ECU < out[j].ECU })
	return out, errors.Join(errs...)
}

// infoMap asks every ECU for its supported-information map (09 00). ECUs
// that refuse it, or answer it with bytes that are not a map, are left out
// and reported.
func (c *Client) infoMap(ctx context.Context) (map[ECU]PIDSet, []error) {
	const item = "info type 00 (supported information map)"
	resp, err := c.t.Do(ctx, Request{Service: ServiceVehicleInfo, Data: []byte{InfoSupported}, Expect: c.knownECUs()})
	if err != nil {
		return nil, []error{&UnansweredError{Service: ServiceVehicleInfo, Item: item, Map: true, Err: err}}
	}
	supported := map[ECU]PIDSet{}
	var errs, refused []error
	for _, g := range groupByECU(resp) {
		m := g.first()
		if neg := negative(m); neg != nil {
			refused = append(refused, neg)
			continue
		}
		if len(m.Data) < 6 || m.Data[1] != InfoSupported {
			errs = append(errs, fmt.Errorf("ECU %s: %w", g.ecu, malformed("vehicle information 00", m.Data, "want 49 00 and a four-byte map")))
			continue
		}
		bm := m.Data[2:]
		if len(bm) == 5 { // legacy protocols put a message number first
			bm = bm[1:]
		}
		supported[g.ecu] = decodeBitmap(0, bm)
	}
	if len(refused) > 0 {
		errs = append(errs, &UnansweredError{Service: ServiceVehicleInfo, Item: item, Map: true, Err: errors.Join(refused...)})
	}
	return supported, errs
}

// applyInfo stores a service 09 item's data in e.
func applyInfo(e *ECUInfo, typ byte, items [][]byte) {
	switch typ {
	case InfoVIN:
		e.VIN = ascii(items[0])
	case InfoCalibrationID:
		for _, it := range items {
			e.CalibrationIDs = append(e.CalibrationIDs, ascii(it))
		}
	case InfoCVN:
		for _, it := range items {
			e.CVNs = append(e.CVNs, fmt.Sprintf("%X", it))
		}
	case InfoECUName:
		e.Name = ascii(items[0])
	}
}

// VIN reads the vehicle identification number from the first ECU that
// reports one.
func (c *Client) VIN(ctx context.Context) (string, error) {
	resp, err := c.t.Do(ctx, Request{Service: ServiceVehicleInfo, Data: []byte{InfoVIN}})
	if err != nil {
		return "", fmt.Errorf("obd: reading the VIN: %w", err)
	}
	for _, g := range groupByECU(resp) {
		if negative(g.first()) != nil {
			continue
		}
		items, err := infoItems(InfoVIN, infoItemVIN, g.msgs)
		if err != nil {
			return "", err
		}
		return ascii(items[0]), nil
	}
	return "", fmt.Errorf("obd: reading the VIN: %w", ErrUnsupported)
}

// infoItems extracts the data items of a service 09 answer. On CAN it is
// one message: 49, the info type, an item count and the items. The older
// protocols send numbered messages of four bytes each (49, type, number,
// data), which are put in order and joined; a VIN arrives with three
// leading filler bytes.
func infoItems(info byte, size int, msgs [][]byte) ([][]byte, error) {
	what := fmt.Sprintf("vehicle information %02X", info)
	for _, m := range msgs {
		if len(m) < 3 || m[0] != ServiceVehicleInfo.Reply() || m[1] != info {
			return nil, malformed(what, m, "does not open with 49 %02X", info)
		}
	}
	if len(msgs) == 1 && len(msgs[0]) > 3+legacyInfoDataSize {
		m := msgs[0]
		n := int(m[2])
		body := m[3:]
		if n == 0 || len(body) < n*size {
			// Some ECUs send the VIN without a count byte.
			if info == InfoVIN && len(m[2:]) == size {
				return [][]byte{m[2:]}, nil
			}
			return nil, malformed(what, m, "count byte %d does not fit %d bytes of %d-byte items", n, len(body), size)
		}
		items := make([][]byte, n)
		for i := range items {
			items[i] = body[i*size : (i+1)*size]
		}
		return items, nil
	}
	sorted := append([][]byte(nil), msgs...)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i][2] < sorted[j][2] })
	var joined []byte
	for i, m := range sorted {
		if len(m) != 3+legacyInfoDataSize {
			return nil, malformed(what, m, "legacy message %d has %d data bytes, want 4", i+1, len(m)-3)
		}
		if int(m[2]) != i+1 {
			return nil, malformed(what, m, "message number %d where %d was due", m[2], i+1)
		}
		joined = append(joined, m[3:]...)
	}
	if info == InfoVIN && len(joined) > size {
		joined = joined[len(joined)-size:] // the first message opens with filler
	}
	if len(joined) < size || len(joined)%size != 0 {
		return nil, malformed(what, joined, "%d bytes do not make whole %d-byte items", len(joined), size)
	}
	var items [][]byte
	for len(joined) >= size {
		items = append(items, joined[:size])
		joined = joined[size:]
	}
	return items, nil
}

// ascii turns an info item into text, dropping the NUL padding.
func ascii(b []byte) string {
	return strings.TrimSpace(strings.ReplaceAll(string(b), "\x00", ""))
}

type ecuGroup struct {
	ecu  ECU
	msgs [][]byte
}

func (g ecuGroup) first() Response { return Response{ECU: g.ecu, Data: g.msgs[0]} }

// groupByECU gathers each ECU's messages, keeping first-seen ECU order.
func groupByECU(resp []Response) []ecuGroup {
	var out []ecuGroup
	idx := map[ECU]int{}
	for _, r := range resp {
		i, ok := idx[r.ECU]
		if !ok {
			i = len(out)
			idx[r.ECU] = i
			out = append(out, ecuGroup{ecu: r.ECU})
		}
		out[i].msgs = append(out[i].msgs, r.Data)
	}
	return out
}

// MonitorFallbackMIDs are the monitors asked of a car that answers no
// supported-MID map: misfire (all cylinders), catalyst bank 1, the first
// O2 sensors of bank 1 and 2, catalyst bank 2, then the misfire monitors
// of cylinders 1 to 8.
var MonitorFallbackMIDs = []MonitorID{MIDMisfire, MIDCatalystBank1, MIDO2Bank1Sensor1, MIDO2Bank1Sensor2, 0x05, 0x06, MIDCatalystBank2,
	0xA2, 0xA3, 0xA4, 0xA5, 0xA6, 0xA7, 0xA8, 0xA9}

// midState is what the client learned of service 06 until Forget.
type midState struct {
	maps      map[ECU]PIDSet // supported MIDs per ECU
	notes     []error        // what the map walk was not answered
	mapless   bool           // no ECU gave a map
	silent    map[MonitorID]bool
	noService bool // without a map, the first monitors asked went unanswered
}

// mapProbes is how many monitors are asked of a car without a
// supported-MID map before it is taken not to do service 06.
const mapProbes = 3

// MonitorTests reads service 06, the on-board monitors' test results, from
// every ECU (CAN only): the supported-MID maps (remembered until Forget),
// then one request per monitor, for the monitors given or, with none
// given, every monitor the maps list. A monitor given that no map lists
// is asked anyway, once until Forget; a car that answers no map has
// MonitorFallbackMIDs asked, and when the first three of them go
// unanswered too it is taken not to do service 06. What the car did not
// answer comes back in the error (*UnansweredError each) beside the
// results that came.
func (c *Client) MonitorTests(ctx context.Context, mids ...MonitorID) ([]TestResult, error) {
	if p := c.Protocol(); p != ProtocolUnknown && !p.CAN() {
		return nil, fmt.Errorf("obd: service 06 results are read on CAN only (this car speaks %s): %w", p, ErrUnsupported)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	var errs []error
	if c.mids == nil {
		st := &midState{silent: map[MonitorID]bool{}}
		var expect []int
		if len(c.supported) > 0 {
			expect = make([]int, len(c.supported))
		}
		maps, notes, err := c.bitmaps(ctx, ServiceTestResults, nil, expect)
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if errors.Is(err, errBitmapTransport) {
			return nil, err // the adapter failed: try again next time
		}
		st.maps, st.notes, st.mapless = maps, notes, len(maps) == 0
		if err != nil {
			st.notes = append(st.notes, &UnansweredError{Service: ServiceTestResults, Item: mapItem(ServiceTestResults, 0), Map: true, Err: err})
		}
		c.mids = st
		errs = append(errs, st.notes...)
	}
	st := c.mids
	if st.noService {
		return nil, fmt.Errorf("obd: service 06: the car answers neither the supported-MID map nor the first monitors asked: %w", ErrNoData)
	}
	var ask []MonitorID
	switch {
	case len(mids) > 0:
		for _, m := range mids {
			if !m.IsMap() && !slices.Contains(ask, m) {
				ask = append(ask, m)
			}
		}
	case st.mapless:
		ask = MonitorFallbackMIDs
	default:
		var all PIDSet
		for _, s := range st.maps {
			all.Union(s)
		}
		for _, p := range all.List() {
			if !MonitorID(p).IsMap() {
				ask = append(ask, MonitorID(p))
			}
		}
	}
	var out []TestResult
	answered, tried := false, 0
	for _, m := range ask {
		listed := ecusWith(st.maps, PID(m))
		if len(listed) == 0 && st.silent[m] {
			continue // asked once without a map entry already, to no answer
		}
		req := Request{Service: ServiceTestResults, Data: []byte{byte(m)}}
		if len(listed) > 0 {
			req.Expect = make([]int, len(listed))
		}
		tried++
		resp, err := c.t.Do(ctx, req)
		if ctx.Err() != nil {
			return out, ctx.Err()
		}
		got, bad := false, false
		var refused []error
		for _, r := range resp {
			if neg := negative(r); neg != nil {
				refused = append(refused, neg)
				continue
			}
			rs, err := DecodeTestResults(r.ECU, r.Data)
			if err == nil && rs[0].MID != m {
				err = malformed("service 06 answer", r.Data, "results of monitor %s where %s was asked", rs[0].MID, m)
			}
			if err != nil {
				errs = append(errs, fmt.Errorf("ECU %s: %w", r.ECU, err))
				bad = true
				continue
			}
			out = append(out, rs...)
			got = true
		}
		if got {
			answered = true
			continue
		}
		if err == nil {
			err = errors.Join(refused...)
		}
		if err == nil && bad {
			continue // reported as undecodable already
		}
		if len(listed) == 0 {
			st.silent[m] = true
		}
		name, _ := monitorName(m)
		errs = append(errs, &UnansweredError{Service: ServiceTestResults, Item: fmt.Sprintf("MID %s (%s)", m, name), Listed: listed, Mapless: st.mapless, Err: err})
		if st.mapless && !answered && tried == mapProbes {
			st.noService = true
			errs = append(errs, fmt.Errorf("obd: service 06: no supported-MID map and none of the first %d monitors answered; the car is taken not to report test results", mapProbes))
			break
		}
	}
	return out, errors.Join(errs...)
}
