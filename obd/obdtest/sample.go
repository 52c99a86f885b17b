package obdtest

import "github.com/pitwall-io/pitwall/obd"

// SampleVIN is a VIN with a valid check digit.
const SampleVIN = "1G1JC5444R7252367"

// SampleCar is a petrol car with an engine and a transmission module, a
// stored misfire code, a pending catalyst code and freeze frame 0: the
// car most tests read.
func SampleCar() *Car {
	return &Car{ECUs: []*ECU{
		{
			Addr: "7E8",
			PIDs: map[obd.PID][]byte{
				0x01: {0x81, 0x07, 0x65, 0x04}, 0x03: {0x02, 0x00}, 0x04: {0x80}, 0x05: {0x7B},
				0x06: {0x82}, 0x07: {0x7E}, 0x0B: {0x21}, 0x0C: {0x1A, 0xF8}, 0x0D: {0x32},
				0x0E: {0x8E}, 0x0F: {0x41}, 0x10: {0x01, 0x2C}, 0x11: {0x26}, 0x13: {0x03},
				0x14: {0x5A, 0x80}, 0x15: {0x5A, 0xFF}, 0x1C: {0x01}, 0x1F: {0x01, 0x2C},
				0x21: {0x00, 0x00}, 0x2F: {0xB4}, 0x30: {0x0A}, 0x31: {0x01, 0x90},
				0x33: {0x65}, 0x42: {0x36, 0xB0}, 0x46: {0x41}, 0x51: {0x01}, 0x5C: {0x82},
				0xA6: {0x00, 0x01, 0xE2, 0x40},
			},
			Stored:    []obd.DTC{0x0300},
			Pending:   []obd.DTC{0x0420},
			Permanent: []obd.DTC{0x0300},
			FreezeDTC: 0x0300,
			Freeze:    map[obd.PID][]byte{0x04: {0x99}, 0x05: {0x80}, 0x0C: {0x0B, 0xB8}, 0x0D: {0x28}},
			Tests: map[obd.MonitorID][]obd.TestRecord{
				obd.MIDO2Bank1Sensor1: {{MID: 0x01, TID: obd.TIDRichToLeanThreshold, UnitScaling: 0x0A, Value: 0.45, Min: 0.45, Max: 0.45},
					{MID: 0x01, TID: obd.TIDSensorPeriod, UnitScaling: 0x10, Value: 912, Min: 0, Max: 1600}},
				obd.MIDCatalystBank1: {{MID: 0x21, TID: 0x80, UnitScaling: 0x20, Value: 0.7, Min: 0, Max: 0.6}},
				obd.MIDMisfire: {{MID: 0xA1, TID: obd.TIDMisfireAverage, UnitScaling: 0x24, Value: 14, Min: 0, Max: 65535},
					{MID: 0xA1, TID: obd.TIDMisfireCount, UnitScaling: 0x24, Value: 31, Min: 0, Max: 65535}},
				obd.MisfireMID(1): {{MID: 0xA2, TID: obd.TIDMisfireAverage, UnitScaling: 0x24, Value: 0, Min: 0, Max: 65535},
					{MID: 0xA2, TID: obd.TIDMisfireCount, UnitScaling: 0x24, Value: 0, Min: 0, Max: 65535}},
				obd.MisfireMID(2): {{MID: 0xA3, TID: obd.TIDMisfireAverage, UnitScaling: 0x24, Value: 14, Min: 0, Max: 65535},
					{MID: 0xA3, TID: obd.TIDMisfireCount, UnitScaling: 0x24, Value: 31, Min: 0, Max: 65535}},
			},
			VIN:    SampleVIN,
			CalIDs: []string{"JMB*36761500"},
			CVNs:   [][]byte{{0x17, 0x91, 0xBC, 0x82}},
			Name:   "ECM\x00-EngineControl",
		},
		{
			Addr: "7E9",
			PIDs: map[obd.PID][]byte{0x01: {0x00, 0x00, 0x00, 0x00}, 0x0C: {0x1A, 0xF8}, 0x0D: {0x32}, 0xA4: {0x03, 0x30, 0x0C, 0x80}},
			Name: "TCM\x00-TransmissionCtl",
		},
	}}
}
