package socketcan

import "errors"

// ErrBadURL: the address could not be understood.
var ErrBadURL = errors.New("socketcan: bad adapter URL")

// ErrUnsupported: SocketCAN exists only on Linux.
var ErrUnsupported = errors.New("socketcan: SocketCAN needs Linux")

// ErrTxQueueFull: the interface's transmit queue stayed full for the
// whole of N_As (1 s): nothing takes frames off the bus (no other node
// acknowledges them, the bitrate is wrong, the controller is bus-off).
var ErrTxQueueFull = errors.New("socketcan: the interface's transmit queue stayed full")
