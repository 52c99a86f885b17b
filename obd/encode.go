package obd

import "fmt"

// The encoders build what an ECU sends: the simulator and the test car
// answer with them, and the decoders' tests run them in reverse.

// EncodeBitmap builds the four bytes of supported-PID bitmap base (00, 20,
// …) from a set: the most significant bit of the first byte is base+1.
func EncodeBitmap(base PID, s PIDSet) []byte {
	b := make([]byte, 4)
	for i := 0; i < 32; i++ {
		if s.Has(base + PID(i+1)) {
			b[i/8] |= 0x80 >> (i % 8)
		}
	}
	return b
}

// EncodeDTCs builds an ECU's answer to service 03, 07 or 0A: one message
// with a count byte on CAN, or messages of three code pairs padded with
// 00 00 on the older protocols (one message even with no codes).
func EncodeDTCs(svc Service, framing Framing, codes []DTC) [][]byte {
	reply := svc.Reply()
	if framing != FramingLegacy {
		msg := []byte{reply, byte(len(codes))}
		for _, d := range codes {
			msg = append(msg, byte(d>>8), byte(d))
		}
		return [][]byte{msg}
	}
	var msgs [][]byte
	for i := 0; i == 0 || i < len(codes); i += 3 {
		msg := []byte{reply}
		for j := i; j < i+3; j++ {
			var d DTC
			if j < len(codes) {
				d = codes[j]
			}
			msg = append(msg, byte(d>>8), byte(d))
		}
		msgs = append(msgs, msg)
	}
	return msgs
}

// EncodeInfo builds an ECU's answer to service 09 info type info from its
// data items: on CAN one message with the item count, on the older
// protocols numbered four-byte messages (a VIN opens with three filler
// bytes).
func EncodeInfo(info byte, framing Framing, items [][]byte) [][]byte {
	reply := ServiceVehicleInfo.Reply()
	var body []byte
	for _, it := range items {
		body = append(body, it...)
	}
	if framing != FramingLegacy {
		return [][]byte{append([]byte{reply, info, byte(len(items))}, body...)}
	}
	if info == InfoVIN {
		body = append([]byte{0, 0, 0}, body...)
	}
	var msgs [][]byte
	for i := 0; i*legacyInfoDataSize < len(body); i++ {
		chunk := make([]byte, legacyInfoDataSize)
		copy(chunk, body[i*legacyInfoDataSize:])
		msgs = append(msgs, append([]byte{reply, info, byte(i + 1)}, chunk...))
	}
	return msgs
}

// EncodeInfoSupported builds the answer to service 09 info type 00.
func EncodeInfoSupported(framing Framing, types ...byte) []byte {
	var s PIDSet
	for _, t := range types {
		s.Add(PID(t))
	}
	head := []byte{ServiceVehicleInfo.Reply(), InfoSupported}
	if framing == FramingLegacy {
		head = append(head, 1) // message number
	}
	return append(head, EncodeBitmap(0, s)...)
}

// PadItem fits text into a fixed-size info item (calibration IDs are 16
// bytes, ECU names 20), padding with NUL.
func PadItem(s string, size int) []byte {
	b := make([]byte, size)
	copy(b, s)
	return b
}

// EncodeMonitorStatus builds the four bytes of PID 01 (driveCycle false)
// or 41. Monitors are matched by name; unknown names are an error.
func EncodeMonitorStatus(s MonitorStatus, driveCycle bool) ([]byte, error) {
	var a, b, c, d byte
	if !driveCycle {
		if s.MIL {
			a |= 0x80
		}
		a |= byte(min(s.DTCCount, 0x7F))
	}
	names := sparkMonitors
	if s.Ignition == "compression" {
		b |= 0x08
		names = compressionMonitors
	}
	for _, m := range s.Monitors {
		found := false
		for i, n := range continuousMonitors {
			if n == m.Name {
				found = true
				if m.Supported {
					b |= 1 << i
					if !m.Complete {
						b |= 0x10 << i
					}
				}
			}
		}
		for i, n := range names {
			if n != "" && n == m.Name {
				found = true
				if m.Supported {
					c |= 1 << i
					if !m.Complete {
						d |= 1 << i
					}
				}
			}
		}
		if !found {
			return nil, fmt.Errorf("obd: no readiness monitor %q for %s ignition", m.Name, s.Ignition)
		}
	}
	return []byte{a, b, c, d}, nil
}

// EncodeFuelSystem builds PID 03 from the raw status bytes of the two fuel
// systems (0x02 is closed loop; see FuelSystemStatus).
func EncodeFuelSystem(system1, system2 byte) []byte { return []byte{system1, system2} }

// Fuel system status bytes of PID 03.
const (
	FuelOpenLoopCold   byte = 0x01
	FuelClosedLoop     byte = 0x02
	FuelOpenLoopLoad   byte = 0x04
	FuelOpenLoopFault  byte = 0x08
	FuelClosedLoopFail byte = 0x10
)
