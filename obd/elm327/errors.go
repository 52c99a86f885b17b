package elm327

import (
	"errors"
	"fmt"

	"github.com/pitwall-io/pitwall/obd"
)

// Kind classifies what the adapter said instead of an answer.
type Kind int

// The adapter's error and alert replies, plus the failures of the link
// itself. The comments say what each means for the caller.
const (
	KindUnknownCommand  Kind = iota + 1 // "?": the adapter did not understand the command
	KindNoData                          // "NO DATA": no ECU answered within the timeout
	KindUnableToConnect                 // "UNABLE TO CONNECT": no protocol found; ignition off or no OBD bus
	KindBusInit                         // "BUS INIT: ...ERROR": ISO 9141/KWP initialisation failed
	KindCANError                        // "CAN ERROR": the CAN bus is not working (wrong rate, not connected)
	KindBusBusy                         // "BUS BUSY": too much traffic to send
	KindBusError                        // "BUS ERROR": a fault on the bus wires
	KindDataError                       // "DATA ERROR", "<DATA ERROR": an answer with a bad checksum or framing
	KindRxError                         // "<RX ERROR": a CAN frame received with errors
	KindBufferFull                      // "BUFFER FULL": the adapter's receive buffer overflowed
	KindFeedbackError                   // "FB ERROR": the adapter's bus output does not match its input
	KindStopped                         // "STOPPED": the adapter was interrupted by a character from the host
	KindActivityAlert                   // "ACT ALERT": no bus activity, the adapter is about to sleep
	KindLowPowerAlert                   // "LP ALERT": the adapter is going to low power
	KindLowVoltageReset                 // "LV RESET": supply voltage dipped and the adapter reset
	KindInternalError                   // "ERRnn": an internal adapter error
	KindNoPrompt                        // no '>' prompt before the deadline
	KindGarbage                         // bytes that are neither an answer nor a known message
	KindReset                           // the adapter printed its power-up banner in the middle of a request
	KindIncomplete                      // a multi-frame answer with frames missing or out of order
)

var kindNames = map[Kind]string{
	KindUnknownCommand:  "unknown command",
	KindNoData:          "no data",
	KindUnableToConnect: "unable to connect",
	KindBusInit:         "bus init error",
	KindCANError:        "CAN error",
	KindBusBusy:         "bus busy",
	KindBusError:        "bus error",
	KindDataError:       "data error",
	KindRxError:         "receive error",
	KindBufferFull:      "buffer full",
	KindFeedbackError:   "feedback error",
	KindStopped:         "stopped",
	KindActivityAlert:   "activity alert",
	KindLowPowerAlert:   "low power alert",
	KindLowVoltageReset: "low voltage reset",
	KindInternalError:   "internal error",
	KindNoPrompt:        "no prompt",
	KindGarbage:         "unintelligible reply",
	KindReset:           "adapter reset",
	KindIncomplete:      "incomplete multi-frame answer",
}

func (k Kind) String() string {
	if n, ok := kindNames[k]; ok {
		return n
	}
	return fmt.Sprintf("kind %d", int(k))
}

// ReplyError is a reply that is not an answer: one of the adapter's error
// messages, or a reply that could not be made sense of. It names the command
// and carries the bytes received.
type ReplyError struct {
	Kind    Kind
	Command string // what was sent, without the CR
	Raw     []byte // everything the adapter sent back for it
	Detail  string // extra context, e.g. the ERRnn number or what was wrong
}

func (e *ReplyError) Error() string {
	msg := fmt.Sprintf("elm327: %s: %s", e.Command, e.Kind)
	if e.Detail != "" {
		msg += " (" + e.Detail + ")"
	}
	return fmt.Sprintf("%s; received %q", msg, e.Raw)
}

// Is makes NO DATA match obd.ErrNoData, so code above the transport can
// treat "nobody answered" alike on every transport.
func (e *ReplyError) Is(target error) bool {
	return target == obd.ErrNoData && e.Kind == KindNoData
}

// Sentinel errors.
var (
	// ErrClosed: the client was closed.
	ErrClosed = errors.New("elm327: client closed")
	// ErrNotELM327: the device never answered like an ELM327 at any baud rate.
	ErrNotELM327 = errors.New("elm327: no ELM327 adapter answered")
	// ErrBadURL: the adapter address could not be understood.
	ErrBadURL = errors.New("elm327: bad adapter URL")
)

// linkBroken reports whether err means the link to the adapter is gone or
// unusable, so the client must reconnect rather than retry a command.
func linkBroken(err error) bool {
	var re *ReplyError
	if errors.As(err, &re) {
		switch re.Kind {
		case KindNoPrompt, KindReset, KindLowVoltageReset, KindLowPowerAlert:
			return true
		case KindInternalError:
			return re.Detail == "ERR94" // a fatal CAN error: the adapter resets itself
		}
		return false
	}
	return err != nil
}

// busLost reports whether err means the car's bus is gone (ignition off, a
// different protocol): the adapter is fine but the protocol must be searched
// again.
func busLost(err error) bool {
	var re *ReplyError
	if !errors.As(err, &re) {
		return false
	}
	switch re.Kind {
	case KindUnableToConnect, KindBusInit, KindCANError, KindBusError:
		return true
	}
	return false
}
