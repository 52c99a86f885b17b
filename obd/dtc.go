package obd

import (
	"fmt"
	"strconv"
	"strings"
)

// DTC is a diagnostic trouble code in its two-byte wire form. The top two
// bits choose the system letter, the next two the first digit, and the low
// twelve bits are the last three hex digits: 0x0133 is P0133.
type DTC uint16

const dtcLetters = "PCBU"

func (d DTC) String() string {
	return fmt.Sprintf("%c%d%03X", dtcLetters[d>>14], (d>>12)&0x3, uint16(d)&0xFFF)
}

// MarshalText writes the code in its familiar form, e.g. "P0420".
func (d DTC) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText reads a code in its familiar form.
func (d *DTC) UnmarshalText(b []byte) error {
	v, err := ParseDTC(string(b))
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// System is the part of the car the code belongs to.
func (d DTC) System() string {
	return [...]string{"powertrain", "chassis", "body", "network"}[d>>14]
}

// Generic reports whether SAE defines the code's meaning for every maker
// (first digit 0, or 2 and 3 for some ranges of P codes), as opposed to a
// maker-specific code.
func (d DTC) Generic() bool {
	digit := (d >> 12) & 0x3
	switch d >> 14 {
	case 0: // P: 0 and 2 are generic; P3000–P33FF maker, P3400–P3FFF generic
		return digit == 0 || digit == 2 || (digit == 3 && uint16(d)&0xFFF >= 0x400)
	case 3: // U: 0 generic, 3 generic
		return digit == 0 || digit == 3
	default: // B and C: 0 and 3 generic
		return digit == 0 || digit == 3
	}
}

// ParseDTC reads a code such as "P0133" or "u0100".
func ParseDTC(s string) (DTC, error) {
	s = strings.TrimSpace(s)
	if len(s) != 5 {
		return 0, fmt.Errorf("obd: trouble code %q: want a letter and four digits, like P0133", s)
	}
	letter := strings.IndexByte(dtcLetters, byte(strings.ToUpper(s[:1])[0]))
	if letter < 0 {
		return 0, fmt.Errorf("obd: trouble code %q: first letter must be P, C, B or U", s)
	}
	if s[1] < '0' || s[1] > '3' {
		return 0, fmt.Errorf("obd: trouble code %q: second character must be 0 to 3", s)
	}
	rest, err := strconv.ParseUint(s[2:], 16, 16)
	if err != nil {
		return 0, fmt.Errorf("obd: trouble code %q: last three characters must be hex digits", s)
	}
	return DTC(uint16(letter)<<14 | uint16(s[1]-'0')<<12 | uint16(rest)), nil
}

// Framing tells DecodeDTCs how a trouble-code reply is laid out.
type Framing int

const (
	// FramingAuto decides from each message's length: a CAN reply carries a
	// count byte and so an odd number of bytes after the service byte.
	FramingAuto Framing = iota
	// FramingCAN: service byte, count byte, then count pairs (ISO 15765-4).
	FramingCAN
	// FramingLegacy: service byte then three pairs per message, padded with
	// 00 00 (J1850, ISO 9141-2, KWP2000).
	FramingLegacy
)

// FramingFor picks the trouble-code layout for a protocol.
func FramingFor(p Protocol) Framing {
	switch {
	case p == ProtocolUnknown:
		return FramingAuto
	case p.CAN():
		return FramingCAN
	default:
		return FramingLegacy
	}
}

// DecodeDTCs decodes the trouble codes in one ECU's answer to service 03,
// 07 or 0A. msgs holds every message that ECU sent for the request (legacy
// protocols spread more than three codes over several messages). Filler
// pairs 00 00 are skipped; the codes keep the order the ECU sent them in.
func DecodeDTCs(svc Service, framing Framing, msgs ...[]byte) ([]DTC, error) {
	var codes []DTC
	what := "trouble codes (service " + svc.String() + ")"
	for _, m := range msgs {
		if len(m) == 0 || m[0] != svc.Reply() {
			return nil, malformed(what, m, "reply does not open with %02X", svc.Reply())
		}
		body := m[1:]
		f := framing
		if f == FramingAuto {
			f = FramingLegacy
			if len(body)%2 == 1 {
				f = FramingCAN
			}
		}
		if f == FramingCAN {
			if len(body) == 0 {
				return nil, malformed(what, m, "the count byte is missing")
			}
			n := int(body[0])
			pairs := body[1:]
			if len(pairs) < 2*n {
				return nil, malformed(what, m, "count byte says %d codes but only %d bytes follow", n, len(pairs))
			}
			pairs = pairs[:2*n] // anything beyond is frame padding
			body = pairs
		} else if len(body)%2 == 1 {
			return nil, malformed(what, m, "odd number of bytes for code pairs")
		}
		for i := 0; i+1 < len(body); i += 2 {
			d := DTC(uint16(body[i])<<8 | uint16(body[i+1]))
			if d == 0 {
				continue
			}
			codes = append(codes, d)
		}
	}
	return codes, nil
}
