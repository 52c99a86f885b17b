package isotp

import (
	"errors"
	"fmt"
)

// Sentinel errors of the transport layer.
var (
	// ErrTimeoutBs: the peer sent no flow control within N_Bs after our
	// first frame or block.
	ErrTimeoutBs = errors.New("isotp: no flow control from the receiver (N_Bs timeout)")
	// ErrTimeoutCr: the next consecutive frame did not arrive within N_Cr.
	ErrTimeoutCr = errors.New("isotp: consecutive frame overdue (N_Cr timeout)")
	// ErrOverflow: the receiver answered flow control with overflow.
	ErrOverflow = errors.New("isotp: receiver reported buffer overflow")
	// ErrTooManyWaits: the receiver kept asking us to wait.
	ErrTooManyWaits = errors.New("isotp: receiver sent too many wait frames")
	// ErrTooLong: the payload does not fit an ISO-TP message on classic CAN.
	ErrTooLong = errors.New("isotp: payload longer than 4095 bytes")
	// ErrClosed: the bus port was closed.
	ErrClosed = errors.New("isotp: bus closed")
)

// FrameError says what was wrong with a received frame.
type FrameError struct {
	ID     uint32
	Data   []byte
	Reason string
}

func (e *FrameError) Error() string {
	return fmt.Sprintf("isotp: frame %X [% X]: %s", e.ID, e.Data, e.Reason)
}

// SequenceError: a consecutive frame arrived out of order and the message
// being reassembled was abandoned.
type SequenceError struct {
	ID        uint32
	Want, Got byte
}

func (e *SequenceError) Error() string {
	return fmt.Sprintf("isotp: frame %X: consecutive frame sequence %X, want %X", e.ID, e.Got, e.Want)
}
