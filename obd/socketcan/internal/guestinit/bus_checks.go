//go:build linux

package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/pitwall-io/pitwall/obd/isotp"
	"github.com/pitwall-io/pitwall/obd/socketcan"
)

// busSees sends frames from a raw socket and lists what a Pitwall bus
// receives of them, in order, until a quiet second.
func busSees(ctx context.Context, bus *socketcan.Bus, frames []frame) ([]string, error) {
	tx, err := openRaw(pitwallIface)
	if err != nil {
		return nil, err
	}
	defer tx.Close()
	for _, f := range frames {
		if err := tx.send(f); err != nil {
			return nil, fmt.Errorf("sending %v: %w", f, err)
		}
	}
	var got []string
	for {
		rctx, cancel := context.WithTimeout(ctx, time.Second)
		f, err := bus.Receive(rctx)
		cancel()
		if errors.Is(err, context.DeadlineExceeded) {
			return got, nil
		}
		if err != nil {
			return got, err
		}
		got = append(got, f.String())
	}
}

// Pitwall's bus lets through what its kernel filters say and nothing
// else: OBD answers only, 11 or 29-bit, never remote frames (a remote
// frame carries no data, whatever its length code says); an unfiltered
// bus passes every data frame but no remote frame either. Close ends a
// receive that is waiting.
func checkBusFilters(ctx context.Context, n *notes) error {
	rtr := uint32(unix.CAN_RTR_FLAG)
	eff := uint32(unix.CAN_EFF_FLAG)
	traffic := []frame{
		{id: 0x123, data: []byte{1}},
		{id: 0x7E0, data: []byte{0x02, 0x01, 0x0D}},
		{id: 0x7E8, data: []byte{0x03, 0x41, 0x0D, 0x32}},
		{id: 0x7E8 | rtr, data: make([]byte, 8)},
		{id: 0x7EF, data: []byte{0x02, 0x41, 0x00}},
		{id: 0x7F0, data: []byte{0x01}},
		{id: 0x7E8 | eff, data: []byte{0x01}},
		{id: 0x18DAF110 | eff, data: []byte{0x03, 0x41, 0x0D, 0x33}},
		{id: 0x18DAF110 | eff | rtr, data: make([]byte, 8)},
		{id: 0x18DAF210 | eff, data: []byte{0x01}},
	}
	for _, tc := range []struct {
		name string
		open func() (*socketcan.Bus, error)
		want []string
	}{
		{"OBD 11-bit", func() (*socketcan.Bus, error) { return socketcan.Open(pitwallIface, socketcan.OBDFilters(false)...) },
			[]string{"7E8 [03 41 0D 32]", "7EF [02 41 00]"}},
		{"OBD 29-bit", func() (*socketcan.Bus, error) { return socketcan.Open(pitwallIface, socketcan.OBDFilters(true)...) },
			[]string{"18DAF110 [03 41 0D 33]"}},
		{"ECU 7E8's requests", func() (*socketcan.Bus, error) { return socketcan.OpenIDs(pitwallIface, []uint32{0x7DF, 0x7E0}, false) },
			[]string{"7E0 [02 01 0D]"}},
		{"unfiltered", func() (*socketcan.Bus, error) { return socketcan.Open(pitwallIface) },
			[]string{"123 [01]", "7E0 [02 01 0D]", "7E8 [03 41 0D 32]", "7EF [02 41 00]", "7F0 [01]", "000007E8 [01]", "18DAF110 [03 41 0D 33]", "18DAF210 [01]"}},
	} {
		bus, err := tc.open()
		if err != nil {
			return fmt.Errorf("%s: %w", tc.name, err)
		}
		got, err := busSees(ctx, bus, traffic)
		_ = bus.Close()
		if err != nil {
			return fmt.Errorf("%s: %w", tc.name, err)
		}
		if strings.Join(got, ", ") != strings.Join(tc.want, ", ") {
			return fmt.Errorf("%s: the bus received %v, want %v", tc.name, got, tc.want)
		}
	}
	bus, err := socketcan.Open(pitwallIface)
	if err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { _, err := bus.Receive(context.Background()); done <- err }()
	time.Sleep(50 * time.Millisecond)
	start := time.Now()
	_ = bus.Close()
	select {
	case err := <-done:
		if !errors.Is(err, isotp.ErrClosed) {
			return fmt.Errorf("a receive ended by Close returned %v, want isotp.ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		return errors.New("close did not end a waiting receive within 5 s")
	}
	n.add("Close ended a waiting receive in %v", time.Since(start).Round(time.Millisecond))
	if err := bus.Close(); err != nil {
		return fmt.Errorf("a second Close: %w", err)
	}
	return nil
}

// queueIface has a transmit queue of ten frames drained at 4000 frames a
// second, as a CAN controller on a 500 kbit/s bus would.
const queueIface = "vcan2"

func setupQueueIface() error {
	if err := addVCAN(queueIface); err != nil {
		return err
	}
	return limitTx(queueIface, 4000*16, 5*16, 10*16)
}

// A burst of consecutive frames with STmin 0 fills a real interface's
// transmit queue and the kernel answers ENOBUFS; the sender must wait for
// room instead of giving the message up.
func checkTxQueueFull(ctx context.Context, n *notes) error {
	k, err := link11.kernelEnd(queueIface, strictRx(0xCC))
	if err != nil {
		return err
	}
	defer k.Close()
	bus, err := socketcan.OpenIDs(queueIface, []uint32{link11.ecu}, false)
	if err != nil {
		return err
	}
	defer bus.Close()
	conn := isotp.NewConn(bus, link11.tester, link11.ecu, false, isotp.Options{TimeoutBs: patient, TimeoutCr: patient})
	start := time.Now()
	if err := sendToKernel(ctx, conn, k, pattern(isotp.MaxPayload, 1), pattern(700, 2)); err != nil {
		return err
	}
	n.add("%d + 700 bytes through a queue of 10 frames at 4000 frames/s in %v; %d sends waited for room", isotp.MaxPayload, time.Since(start).Round(time.Millisecond), bus.TxWaits())
	if bus.TxWaits() == 0 {
		return errors.New("the transmit queue never filled: the check proves nothing")
	}
	return nil
}
