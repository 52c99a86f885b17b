package obd

import (
	"context"
	"fmt"
)

// Service is a J1979 diagnostic service identifier.
type Service byte

// The services Pitwall uses. Only ServiceClearDTCs changes the car's state.
const (
	ServiceCurrentData   Service = 0x01
	ServiceFreezeFrame   Service = 0x02
	ServiceStoredDTCs    Service = 0x03
	ServiceClearDTCs     Service = 0x04
	ServiceTestResults   Service = 0x06
	ServicePendingDTCs   Service = 0x07
	ServiceVehicleInfo   Service = 0x09
	ServicePermanentDTCs Service = 0x0A
)

// Reply is the byte that opens a positive answer to s.
func (s Service) Reply() byte { return byte(s) + 0x40 }

func (s Service) String() string { return fmt.Sprintf("%02X", byte(s)) }

// negativeReply opens a negative answer: 7F, the service, then a code.
const negativeReply = 0x7F

// ECU names the module that sent a response, as the transport addresses it:
// the CAN identifier in hex ("7E8", "18DAF110") or, on the older serial
// protocols, the source address byte ("10"). It is empty when the link hides
// headers and the sender cannot be known.
type ECU string

// Request is one diagnostic request, sent to every ECU (functional
// addressing) or to one (physical addressing).
type Request struct {
	Service Service
	// Data follows the service byte: PIDs, frame numbers, info types.
	Data []byte
	// Expect lists the answers the caller is owed, one entry per ECU that
	// declared support (from the supported-PID maps), each the answer's
	// length or 0 when the length cannot be known in advance; nil when the
	// caller does not know who will answer. A transport may stop listening
	// once that many positive answers are in instead of waiting out its
	// response timeout, and may use the lengths to tell the adapter how
	// many frames to wait for.
	Expect []int
	// ECU, when set, addresses the request to that ECU alone, by the
	// address its answers carry (physical addressing, CAN only).
	ECU ECU
}

// Bytes is the request on the wire: the service byte then Data.
func (r Request) Bytes() []byte {
	return append([]byte{byte(r.Service)}, r.Data...)
}

func (r Request) String() string { return fmt.Sprintf("%X", r.Bytes()) }

// Response is one complete message from one ECU, reassembled from however
// many frames carried it. Data begins with the reply service byte (request
// service + 0x40) or with 0x7F for a negative response.
type Response struct {
	ECU  ECU
	Data []byte
}

// Transport carries requests to the car and brings back every ECU's answer.
// Implementations serialise concurrent calls. A request nobody answers
// returns an error that matches ErrNoData.
type Transport interface {
	Do(ctx context.Context, req Request) ([]Response, error)
}

// ProtocolReporter is implemented by transports that know which bus
// protocol carries the requests.
type ProtocolReporter interface {
	Protocol() Protocol
}

// VoltageReader is implemented by transports that can measure the supply
// voltage at the diagnostic connector (the car's battery), such as an ELM327.
type VoltageReader interface {
	BatteryVoltage(ctx context.Context) (float64, error)
}

// CANFrames is how many CAN frames ISO 15765-2 needs for a message of n
// bytes: one single frame up to 7 bytes, otherwise a first frame carrying 6
// and consecutive frames carrying 7 each.
func CANFrames(n int) int {
	if n <= 7 {
		return 1
	}
	return 1 + (n-6+6)/7
}

// Answers reports whether msg replies to req: the positive reply byte and,
// for services that name what they ask for (01, 02, 06, 09), one of the
// PIDs, monitors or the info type asked for; or a negative response naming req's service. A
// transport uses it to drop a late answer to an earlier request.
func Answers(req Request, msg []byte) bool {
	if len(msg) == 0 {
		return false
	}
	if msg[0] == negativeReply {
		return len(msg) >= 2 && msg[1] == byte(req.Service)
	}
	if msg[0] != req.Service.Reply() {
		return false
	}
	switch req.Service {
	case ServiceCurrentData, ServiceVehicleInfo, ServiceTestResults:
		return len(msg) >= 2 && len(req.Data) > 0 && bytesContain(req.Data, msg[1])
	case ServiceFreezeFrame:
		if len(msg) < 2 {
			return false
		}
		for i := 0; i < len(req.Data); i += 2 {
			if req.Data[i] == msg[1] {
				return true
			}
		}
		return false
	}
	return true
}

func bytesContain(b []byte, x byte) bool {
	for _, v := range b {
		if v == x {
			return true
		}
	}
	return false
}
