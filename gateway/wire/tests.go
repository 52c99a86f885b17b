package wire

import (
	"slices"

	"google.golang.org/protobuf/proto"

	"github.com/pitwall-io/pitwall/gateway/wire/wirepb"
	"github.com/pitwall-io/pitwall/obd"
)

// MonitorTests turns the on-board monitors' test results (service 06) into
// what a car sends: every result, for its next trouble-code report, and
// one value per monitor signal (the misfire counts), the engine ECU's
// first as for PIDs, for its telemetry.
func MonitorTests(res []obd.TestResult) ([]*wirepb.TestResult, map[string]float64) {
	res = slices.Clone(res)
	slices.SortStableFunc(res, func(x, y obd.TestResult) int { return obd.CompareECUs(x.ECU, y.ECU) })
	values := map[string]float64{}
	tests := make([]*wirepb.TestResult, 0, len(res))
	for _, r := range res {
		if _, seen := values[r.Signal]; obd.IsMonitorSignal(r.Signal) && !seen {
			values[r.Signal] = r.Value
		}
		tests = append(tests, &wirepb.TestResult{Ecu: string(r.ECU), Mid: uint32(r.MID), Tid: uint32(r.TID), Signal: r.Signal,
			Value: r.Value, Min: r.Min, Max: r.Max, Unit: r.Unit, Passed: r.Passed, Monitor: r.Monitor, Test: r.Test})
	}
	return tests, values
}

// SameTests reports whether two sets of test results say the same, in
// the same order.
func SameTests(a, b []*wirepb.TestResult) bool {
	return slices.EqualFunc(a, b, func(x, y *wirepb.TestResult) bool { return proto.Equal(x, y) })
}
