package obd

import "fmt"

// Protocol is an OBD-II bus protocol, numbered as the ELM327 numbers them
// (which is how most tools and owners know them).
type Protocol int

// The OBD-II protocols. ProtocolUnknown means not yet detected.
const (
	ProtocolUnknown       Protocol = 0x0
	ProtocolJ1850PWM      Protocol = 0x1
	ProtocolJ1850VPW      Protocol = 0x2
	ProtocolISO9141       Protocol = 0x3
	ProtocolKWP5Baud      Protocol = 0x4
	ProtocolKWPFast       Protocol = 0x5
	ProtocolCAN11_500     Protocol = 0x6
	ProtocolCAN29_500     Protocol = 0x7
	ProtocolCAN11_250     Protocol = 0x8
	ProtocolCAN29_250     Protocol = 0x9
	ProtocolJ1939         Protocol = 0xA
	ProtocolUserCAN11_125 Protocol = 0xB
	ProtocolUserCAN11_50  Protocol = 0xC
)

var protocolNames = map[Protocol]string{
	ProtocolJ1850PWM:      "SAE J1850 PWM (41.6 kbaud)",
	ProtocolJ1850VPW:      "SAE J1850 VPW (10.4 kbaud)",
	ProtocolISO9141:       "ISO 9141-2 (5 baud init, 10.4 kbaud)",
	ProtocolKWP5Baud:      "ISO 14230-4 KWP (5 baud init, 10.4 kbaud)",
	ProtocolKWPFast:       "ISO 14230-4 KWP (fast init, 10.4 kbaud)",
	ProtocolCAN11_500:     "ISO 15765-4 CAN (11 bit ID, 500 kbaud)",
	ProtocolCAN29_500:     "ISO 15765-4 CAN (29 bit ID, 500 kbaud)",
	ProtocolCAN11_250:     "ISO 15765-4 CAN (11 bit ID, 250 kbaud)",
	ProtocolCAN29_250:     "ISO 15765-4 CAN (29 bit ID, 250 kbaud)",
	ProtocolJ1939:         "SAE J1939 CAN (29 bit ID, 250 kbaud)",
	ProtocolUserCAN11_125: "User1 CAN (11 bit ID, 125 kbaud)",
	ProtocolUserCAN11_50:  "User2 CAN (11 bit ID, 50 kbaud)",
}

func (p Protocol) String() string {
	if n, ok := protocolNames[p]; ok {
		return n
	}
	if p == ProtocolUnknown {
		return "unknown"
	}
	return fmt.Sprintf("protocol %X", int(p))
}

// CAN reports whether the protocol runs on CAN, where requests may pack up
// to six PIDs and trouble-code replies open with a count byte.
func (p Protocol) CAN() bool { return p >= ProtocolCAN11_500 }

// Extended reports whether the protocol uses 29-bit CAN identifiers.
func (p Protocol) Extended() bool {
	return p == ProtocolCAN29_500 || p == ProtocolCAN29_250 || p == ProtocolJ1939
}
