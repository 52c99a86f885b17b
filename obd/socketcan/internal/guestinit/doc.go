//go:build linux

// Command guestinit is the init (PID 1) of the guest that the SocketCAN
// kernel test boots under qemu. It mounts /proc, /sys and /dev, loads the
// CAN modules named in /etc/pitwall/modules, creates vcan0 and vcan1 over
// rtnetlink, then checks Pitwall against the guest's kernel: `pitwall sim
// can` and `pitwall scan` on vcan0, and Pitwall's ISO-TP against the
// kernel's own (CAN_ISOTP sockets), both ways. Each result is printed on
// the serial console as a guestvm report line; then the guest powers off.
//
// It is built with CGO_ENABLED=0 and refuses to run as anything but PID 1.
package main
