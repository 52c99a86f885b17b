// Package isotp implements ISO 15765-2 (ISO-TP), the transport that carries
// diagnostic messages longer than one CAN frame: single, first, consecutive
// and flow-control frames, block size and STmin in both directions, and the
// N_Bs and N_Cr timeouts. It runs over any Bus of classic CAN frames, such as
// SocketCAN (package obd/socketcan) or the in-process MemBus used in tests
// and by the simulator.
//
// OBD is the J1979 transport on top: functional requests to 0x7DF (or
// 0x18DB33F1 with 29-bit identifiers) and the answers of every ECU,
// reassembled side by side.
package isotp
