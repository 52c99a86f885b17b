// Package socketcan puts ISO-TP and OBD straight on a Linux SocketCAN
// interface (can0, vcan0, slcan0, ...) through github.com/go-daq/canbus,
// with kernel filters so that only the ECUs' answers reach the process.
// The interface's bitrate is set outside Pitwall, for example with
// `ip link set can0 type can bitrate 500000 && ip link set can0 up`.
package socketcan
