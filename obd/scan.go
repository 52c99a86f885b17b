package obd

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"
)

// ScanReport is everything a full scan learned about a car. Its JSON form
// is what `pitwall scan --json` prints.
type ScanReport struct {
	Time          time.Time         `json:"time"`
	Protocol      string            `json:"protocol"`
	VIN           string            `json:"vin"`
	VINCheck      *VINCheck         `json:"vin_check,omitempty"`
	ECUs          []ScanECU         `json:"ecus"`
	SupportedPIDs []string          `json:"supported_pids"`
	Values        []ScanValue       `json:"values"`
	DTCs          ScanDTCs          `json:"dtcs"`
	FreezeFrames  []ScanFreezeFrame `json:"freeze_frames"`
	// MonitorTests are the on-board monitors' test results (service 06,
	// CAN only), by ECU, monitor and test.
	MonitorTests   []TestResult    `json:"monitor_tests"`
	MIL            bool            `json:"mil"`
	DTCCount       int             `json:"dtc_count"`
	Readiness      []ScanReadiness `json:"readiness"`
	BatteryVoltage *float64        `json:"battery_voltage"`
	VoltageSource  string          `json:"battery_voltage_source,omitempty"`
	Problems       []ScanProblem   `json:"problems"`
	Adapter        any             `json:"adapter,omitempty"`
}

// ScanECU is one module that answered.
type ScanECU struct {
	Address        ECU      `json:"address"`
	Name           string   `json:"name,omitempty"`
	SupportedPIDs  []string `json:"supported_pids"`
	CalibrationIDs []string `json:"calibration_ids,omitempty"`
	CVNs           []string `json:"cvns,omitempty"`
}

// ScanValue is one PID's current value from one ECU. Value is a number for
// PIDs with one quantity, an object of key → number for several, the
// structured reading for bit-encoded PIDs, and the raw bytes in hex for
// PIDs without a standard layout.
type ScanValue struct {
	PID     string        `json:"pid"` // service and PID, e.g. "010C"
	Name    string        `json:"name"`
	Value   any           `json:"value"`
	Unit    string        `json:"unit"`
	ECU     ECU           `json:"ecu"`
	Signals []Measurement `json:"signals,omitempty"`
}

// ScanDTCs are the three kinds of trouble codes.
type ScanDTCs struct {
	Stored    []ECUCode `json:"stored"`
	Pending   []ECUCode `json:"pending"`
	Permanent []ECUCode `json:"permanent"`
}

// ScanFreezeFrame is a freeze frame in report form.
type ScanFreezeFrame struct {
	ECU    ECU         `json:"ecu"`
	Frame  byte        `json:"frame"`
	DTC    DTC         `json:"dtc"`
	Values []ScanValue `json:"values"`
}

// ScanReadiness is one ECU's readiness monitors.
type ScanReadiness struct {
	ECU      ECU       `json:"ecu"`
	Ignition string    `json:"ignition"`
	Ready    bool      `json:"ready"`
	Monitors []Monitor `json:"monitors"`
}

// ScanProblem records a step of the scan that failed without stopping it.
type ScanProblem struct {
	Step  string `json:"step"`
	Error string `json:"error"`
}

// Scan reads everything J1979 offers: protocol, VIN and vehicle
// information, supported PIDs and a value for each, stored, pending and
// permanent codes, freeze frame 0, MIL and readiness, the on-board
// monitors' test results (on CAN), and the battery voltage. Only a car that does not answer at all fails the scan; any
// other failed step is listed in Problems.
func Scan(ctx context.Context, c *Client) (*ScanReport, error) {
	r := &ScanReport{Time: time.Now().UTC(), ECUs: []ScanECU{}, SupportedPIDs: []string{}, Values: []ScanValue{},
		DTCs:         ScanDTCs{Stored: []ECUCode{}, Pending: []ECUCode{}, Permanent: []ECUCode{}},
		FreezeFrames: []ScanFreezeFrame{}, MonitorTests: []TestResult{}, Readiness: []ScanReadiness{}, Problems: []ScanProblem{}}
	var problem func(step string, err error)
	problem = func(step string, err error) {
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			for _, e := range j.Unwrap() {
				problem(step, e)
			}
			return
		}
		if err != nil {
			r.Problems = append(r.Problems, ScanProblem{Step: step, Error: err.Error()})
		}
	}

	sets, err := c.SupportedPIDs(ctx)
	if err != nil {
		return nil, fmt.Errorf("obd: the car did not answer (is the ignition on and the adapter plugged in?): %w", err)
	}
	r.Protocol = c.Protocol().String()
	problem("supported PIDs (service 01)", c.DiscoveryProblems())
	var all PIDSet
	ecus := make([]ECU, 0, len(sets))
	for e, s := range sets {
		all.Union(s)
		ecus = append(ecus, e)
	}
	sort.Slice(ecus, func(i, j int) bool { return ecus[i] < ecus[j] })
	for _, p := range all.List() {
		if !p.IsBitmap() {
			r.SupportedPIDs = append(r.SupportedPIDs, "01"+p.String())
		}
	}
	for _, e := range ecus {
		se := ScanECU{Address: e, SupportedPIDs: []string{}}
		for _, p := range sets[e].List() {
			if !p.IsBitmap() {
				se.SupportedPIDs = append(se.SupportedPIDs, "01"+p.String())
			}
		}
		r.ECUs = append(r.ECUs, se)
	}
	byECU := map[ECU]*ScanECU{}
	for i := range r.ECUs {
		byECU[r.ECUs[i].Address] = &r.ECUs[i]
	}

	infos, err := c.VehicleInfo(ctx)
	problem("vehicle information (service 09)", err)
	for _, in := range infos {
		if r.VIN == "" && in.VIN != "" {
			r.VIN = in.VIN
			chk := CheckVIN(in.VIN)
			r.VINCheck = &chk
		}
		if se := byECU[in.ECU]; se != nil {
			se.Name, se.CalibrationIDs, se.CVNs = in.Name, in.CalibrationIDs, in.CVNs
		}
	}

	var pids []PID
	for _, p := range all.List() {
		if !p.IsBitmap() {
			pids = append(pids, p)
		}
	}
	readings, err := c.Read(ctx, pids...)
	problem("current data (service 01)", err)
	for _, rd := range readings {
		r.Values = append(r.Values, scanValue(ServiceCurrentData, rd))
		if s, ok := rd.Value.Detail.(*MonitorStatus); ok && rd.PID == 0x01 {
			r.MIL = r.MIL || s.MIL
			r.DTCCount += s.DTCCount
			r.Readiness = append(r.Readiness, ScanReadiness{ECU: rd.ECU, Ignition: s.Ignition, Ready: s.Ready(), Monitors: s.Monitors})
		}
	}

	for _, k := range []struct {
		svc  Service
		dst  *[]ECUCode
		name string
	}{{ServiceStoredDTCs, &r.DTCs.Stored, "stored codes (service 03)"},
		{ServicePendingDTCs, &r.DTCs.Pending, "pending codes (service 07)"},
		{ServicePermanentDTCs, &r.DTCs.Permanent, "permanent codes (service 0A)"}} {
		codes, err := c.DTCs(ctx, k.svc)
		if errors.Is(err, ErrNoData) {
			err = nil // no ECU has codes of this kind to report, or the car predates the service
		}
		problem(k.name, err)
		*k.dst = append(*k.dst, codes...)
	}

	frames, err := c.FreezeFrames(ctx, 0)
	if errors.Is(err, ErrNoData) || errors.Is(err, ErrUnsupported) {
		err = nil
	}
	problem("freeze frame (service 02)", err)
	for _, f := range frames {
		sf := ScanFreezeFrame{ECU: f.ECU, Frame: f.Frame, DTC: f.DTC, Values: []ScanValue{}}
		for _, rd := range f.Values {
			sf.Values = append(sf.Values, scanValue(ServiceFreezeFrame, rd))
		}
		r.FreezeFrames = append(r.FreezeFrames, sf)
	}

	if c.Protocol().CAN() || c.Protocol() == ProtocolUnknown {
		tests, err := c.MonitorTests(ctx)
		problem("monitor test results (service 06)", err)
		r.MonitorTests = append(r.MonitorTests, tests...)
		sort.SliceStable(r.MonitorTests, func(i, j int) bool {
			a, b := r.MonitorTests[i], r.MonitorTests[j]
			if a.ECU != b.ECU {
				return a.ECU < b.ECU
			}
			if a.MID != b.MID {
				return a.MID < b.MID
			}
			return a.TID < b.TID
		})
	}

	if vr, ok := c.Transport().(VoltageReader); ok {
		v, err := vr.BatteryVoltage(ctx)
		problem("battery voltage", err)
		if err == nil {
			r.BatteryVoltage, r.VoltageSource = &v, "adapter"
		}
	}
	if r.BatteryVoltage == nil {
		for _, rd := range readings {
			if m, ok := rd.Value.Get("control_module_voltage"); ok {
				v := m.Value
				r.BatteryVoltage, r.VoltageSource = &v, "ecu"
				break
			}
		}
	}
	return r, nil
}

// scanValue puts a reading in report form.
func scanValue(svc Service, rd Reading) ScanValue {
	info, _ := Lookup(rd.PID)
	sv := ScanValue{PID: svc.String() + rd.PID.String(), Name: info.Name, ECU: rd.ECU, Signals: rd.Value.Measurements}
	if sv.Name == "" {
		sv.Name = "unknown PID"
	}
	ms := rd.Value.Measurements
	switch {
	case rd.Value.Detail != nil:
		sv.Value = rd.Value.Detail
	case len(ms) == 1:
		sv.Value, sv.Unit = ms[0].Value, ms[0].Unit
	case len(ms) > 1:
		obj := map[string]float64{}
		unit := ms[0].Unit
		for _, m := range ms {
			obj[m.Key] = m.Value
			if m.Unit != unit {
				unit = ""
			}
		}
		sv.Value, sv.Unit = obj, unit
	case len(info.Fields) > 0:
		sv.Value = map[string]float64{} // every sensor reported unsupported
	default:
		sv.Value, sv.Unit = fmt.Sprintf("%X", rd.Value.Raw), "raw"
	}
	return sv
}
