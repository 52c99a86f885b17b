//go:build linux

package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"time"

	"golang.org/x/sys/unix"
)

// The kernel's ISO-TP socket options (linux/can/isotp.h), which
// golang.org/x/sys/unix does not define.
const (
	solCANISOTP = unix.SOL_CAN_BASE + unix.CAN_ISOTP

	isotpOpts   = 1 // struct can_isotp_options
	isotpRecvFC = 2 // struct can_isotp_fc_options

	isotpTxPadding  = 0x004
	isotpRxPadding  = 0x008
	isotpChkPadLen  = 0x010
	isotpChkPadData = 0x020
	isotpWaitTxDone = 0x400
)

// kernelTP is one of the kernel's own ISO-TP endpoints: a CAN_ISOTP socket
// that receives on rx and sends on tx.
type kernelTP struct{ fd int }

// tpConfig configures a kernel endpoint.
type tpConfig struct {
	rx, tx uint32 // CAN_EFF_FLAG marks 29-bit identifiers
	// flags are CAN_ISOTP_* option flags. txPad fills sent frames when
	// isotpTxPadding is set; rxPad is what isotpChkPadData expects.
	flags        uint32
	txPad, rxPad byte
	// bs and stmin are what the kernel's flow control asks of a sender
	// (the raw STmin byte).
	bs, stmin byte
}

func openTP(iface string, c tpConfig) (*kernelTP, error) {
	ifi, err := net.InterfaceByName(iface)
	if err != nil {
		return nil, err
	}
	fd, err := unix.Socket(unix.AF_CAN, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, unix.CAN_ISOTP)
	if err != nil {
		return nil, fmt.Errorf("CAN_ISOTP socket (is can-isotp loaded?): %w", err)
	}
	fail := func(what string, err error) (*kernelTP, error) {
		unix.Close(fd)
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	opts := make([]byte, 12) // struct can_isotp_options
	binary.NativeEndian.PutUint32(opts[0:], c.flags)
	opts[9], opts[10] = c.txPad, c.rxPad
	if err := unix.SetsockoptString(fd, solCANISOTP, isotpOpts, string(opts)); err != nil {
		return fail("CAN_ISOTP_OPTS", err)
	}
	fc := []byte{c.bs, c.stmin, 0} // struct can_isotp_fc_options: bs, stmin, wftmax
	if err := unix.SetsockoptString(fd, solCANISOTP, isotpRecvFC, string(fc)); err != nil {
		return fail("CAN_ISOTP_RECV_FC", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrCAN{Ifindex: ifi.Index, RxID: c.rx, TxID: c.tx}); err != nil {
		return fail("binding the ISO-TP socket", err)
	}
	return &kernelTP{fd: fd}, nil
}

func (k *kernelTP) Close() error { return unix.Close(k.fd) }

// write sends one message. With isotpWaitTxDone it returns when the last
// frame is out, with the error the transfer ended in (no flow control,
// a malformed one).
func (k *kernelTP) write(p []byte) error {
	n, err := unix.Write(k.fd, p)
	if err == nil && n != len(p) {
		err = fmt.Errorf("ISO-TP write took %d of %d bytes", n, len(p))
	}
	return err
}

// errNoMessage: the kernel delivered nothing within the wait.
var errNoMessage = errors.New("the kernel's ISO-TP socket delivered no message")

// read waits up to d for one message. Transfer errors the kernel detected
// (EILSEQ for a wrong sequence number, ETIMEDOUT for a missing frame,
// EBADMSG for bad padding) come back as the errno.
func (k *kernelTP) read(d time.Duration) ([]byte, error) {
	tv := unix.NsecToTimeval(d.Nanoseconds())
	if err := unix.SetsockoptTimeval(k.fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		return nil, err
	}
	buf := make([]byte, 8192)
	n, err := unix.Read(k.fd, buf)
	if errors.Is(err, unix.EAGAIN) {
		return nil, errNoMessage
	}
	if err != nil {
		return nil, err
	}
	return buf[:n], nil
}
