package isotp

import (
	"context"
	"fmt"
)

// Frame is one classic CAN frame.
type Frame struct {
	ID       uint32
	Extended bool   // 29-bit identifier
	Data     []byte // at most 8 bytes
}

func (f Frame) String() string {
	if f.Extended {
		return fmt.Sprintf("%08X [% X]", f.ID, f.Data)
	}
	return fmt.Sprintf("%03X [% X]", f.ID, f.Data)
}

// Bus is one node's view of a CAN bus. Receive returns frames sent by other
// nodes, in bus order; it blocks until a frame arrives or ctx ends.
type Bus interface {
	Send(ctx context.Context, f Frame) error
	Receive(ctx context.Context) (Frame, error)
}
