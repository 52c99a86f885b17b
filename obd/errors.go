package obd

import (
	"errors"
	"fmt"
)

// Sentinel errors. Transports and the client wrap them with what was sent
// and received; branch on them with errors.Is.
var (
	// ErrNoData means no ECU answered the request.
	ErrNoData = errors.New("obd: no ECU answered")
	// ErrUnsupported means the car does not support the PID, info type or
	// service that was asked for.
	ErrUnsupported = errors.New("obd: not supported by the vehicle")
	// ErrMalformed means a reply could not be decoded: wrong length, wrong
	// service byte, a field out of its defined range.
	ErrMalformed = errors.New("obd: malformed reply")
	// ErrNotConfirmed guards service 04: clearing codes needs an explicit
	// confirmation from the caller.
	ErrNotConfirmed = errors.New("obd: clearing trouble codes needs explicit confirmation")
)

// NegativeResponseCode is the reason byte of a 7F negative response.
type NegativeResponseCode byte

// Negative response codes an OBD ECU uses (ISO 14229 numbering).
const (
	NRCGeneralReject           NegativeResponseCode = 0x10
	NRCServiceNotSupported     NegativeResponseCode = 0x11
	NRCSubFunctionNotSupported NegativeResponseCode = 0x12
	NRCIncorrectLength         NegativeResponseCode = 0x13
	NRCBusyRepeatRequest       NegativeResponseCode = 0x21
	NRCConditionsNotCorrect    NegativeResponseCode = 0x22
	NRCRequestOutOfRange       NegativeResponseCode = 0x31
	NRCResponsePending         NegativeResponseCode = 0x78
)

var nrcNames = map[NegativeResponseCode]string{
	NRCGeneralReject:           "general reject",
	NRCServiceNotSupported:     "service not supported",
	NRCSubFunctionNotSupported: "sub-function not supported",
	NRCIncorrectLength:         "incorrect message length",
	NRCBusyRepeatRequest:       "busy, repeat request",
	NRCConditionsNotCorrect:    "conditions not correct",
	NRCRequestOutOfRange:       "request out of range",
	NRCResponsePending:         "response pending",
}

func (c NegativeResponseCode) String() string {
	if n, ok := nrcNames[c]; ok {
		return fmt.Sprintf("%s (0x%02X)", n, byte(c))
	}
	return fmt.Sprintf("code 0x%02X", byte(c))
}

// NegativeResponseError is an ECU's refusal: 7F <service> <code>.
type NegativeResponseError struct {
	ECU     ECU
	Service Service
	Code    NegativeResponseCode
}

func (e *NegativeResponseError) Error() string {
	return fmt.Sprintf("obd: ECU %s refused service %s: %s", e.ECU, e.Service, e.Code)
}

// Is lets errors.Is(err, ErrUnsupported) match refusals that mean the
// request is not supported.
func (e *NegativeResponseError) Is(target error) bool {
	if target != ErrUnsupported {
		return false
	}
	switch e.Code {
	case NRCServiceNotSupported, NRCSubFunctionNotSupported, NRCRequestOutOfRange:
		return true
	}
	return false
}

// DecodeError says which bytes could not be decoded and why. It matches
// ErrMalformed.
type DecodeError struct {
	What   string // what was being decoded, e.g. "PID 0C"
	Data   []byte // the bytes received
	Reason string
}

func (e *DecodeError) Error() string {
	return fmt.Sprintf("obd: decoding %s from % X: %s", e.What, e.Data, e.Reason)
}

func (e *DecodeError) Unwrap() error { return ErrMalformed }

func malformed(what string, data []byte, format string, args ...any) error {
	return &DecodeError{What: what, Data: append([]byte(nil), data...), Reason: fmt.Sprintf(format, args...)}
}

// UnansweredError says what the car did not answer: a supported-item map
// or an item the client asked for whether or not a map listed it. It wraps
// what the transport or the ECUs said (so it matches ErrNoData when nobody
// answered, ErrUnsupported when an ECU refused). A scan lists each one in
// its problems; the rest of the scan goes on.
type UnansweredError struct {
	Service Service
	// Item is what was asked, e.g. "info type 04 (calibration IDs)".
	Item string
	// Map says the item is itself a supported map (00, 20, …).
	Map bool
	// Listed names the ECUs whose supported map listed the item; Mapless
	// says no map was had to look in.
	Listed  []ECU
	Mapless bool
	// Err is what came back instead of an answer.
	Err error
}

func (e *UnansweredError) Error() string {
	var why string
	switch {
	case e.Map:
	case e.Mapless:
		why = " (asked without a supported map)"
	case len(e.Listed) > 0:
		why = fmt.Sprintf(" (listed as supported by %v)", e.Listed)
	default:
		why = " (no ECU's supported map lists it)"
	}
	return fmt.Sprintf("obd: service %s %s: not answered%s: %v", e.Service, e.Item, why, e.Err)
}

func (e *UnansweredError) Unwrap() error { return e.Err }
