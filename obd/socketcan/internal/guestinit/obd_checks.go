//go:build linux

package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/pitwall-io/pitwall/obd"
	"github.com/pitwall-io/pitwall/obd/isotp"
	"github.com/pitwall-io/pitwall/obd/socketcan"
)

// kernelECU answers on the kernel's ISO-TP socket k: every request it
// reads, answer maps to a reply (nil: none). It stops when ctx ends.
func kernelECU(ctx context.Context, k *kernelTP, answer func(req []byte) []byte) <-chan error {
	done := make(chan error, 1)
	go func() {
		for ctx.Err() == nil {
			req, err := k.read(100 * time.Millisecond)
			if errors.Is(err, errNoMessage) {
				continue
			}
			if err != nil {
				done <- fmt.Errorf("kernel ECU reading a request: %w", err)
				return
			}
			if reply := answer(req); reply != nil {
				if err := k.write(reply); err != nil {
					done <- fmt.Errorf("kernel ECU answering % X: %w", req, err)
					return
				}
			}
		}
		done <- nil
	}()
	return done
}

// obdAgainstKernel puts a kernel ECU answering with vinAnswer on kernelIf
// and opens Pitwall's OBD transport on vcan0. stop ends both and returns
// what went wrong on the ECU's side; it is safe to call twice.
func obdAgainstKernel(ctx context.Context, kernelIf string, cfg tpConfig) (t *isotp.OBD, stop func() error, err error) {
	k, err := link11.kernelEnd(kernelIf, cfg)
	if err != nil {
		return nil, nil, err
	}
	ectx, cancel := context.WithCancel(ctx)
	ecu := kernelECU(ectx, k, vinAnswer)
	t, bus, err := socketcan.OpenOBD(socketcan.Config{Interface: pitwallIface, Bitrate: 500}, isotp.OBDOptions{P2: time.Second, Options: isotp.Options{TimeoutBs: patient, TimeoutCr: patient}})
	var once sync.Once
	var ecuErr error
	stop = func() error {
		once.Do(func() {
			cancel()
			ecuErr = <-ecu
			k.Close()
			if bus != nil {
				bus.Close()
			}
		})
		return ecuErr
	}
	if err != nil {
		stop()
		return nil, nil, err
	}
	return t, stop, nil
}

const kernelVIN = "1PWKC5EX2LW000042"

// vinAnswer answers 09 02 with a 20-byte (multi-frame) VIN message and
// echoes anything longer, so that long physical requests come back whole.
func vinAnswer(req []byte) []byte {
	switch {
	case bytes.Equal(req, []byte{0x09, 0x02}):
		return append([]byte{0x49, 0x02, 0x01}, kernelVIN...)
	case len(req) > 7 && req[0] == 0x22: // read data by identifier: answer 62 and the rest
		return append([]byte{0x62}, req[1:]...)
	}
	return nil
}

// Pitwall's OBD transport asks a kernel ISO-TP ECU physically: a
// multi-frame answer under the kernel's block size and STmin, and a
// request long enough to need the kernel's flow control.
func checkOBDKernelECU(ctx context.Context, n *notes) error {
	cfg := tpConfig{flags: isotpTxPadding | isotpRxPadding | isotpChkPadLen | isotpChkPadData | isotpWaitTxDone, txPad: 0x55, rxPad: 0xCC, bs: 2, stmin: 1}
	t, stop, err := obdAgainstKernel(ctx, pitwallIface, cfg)
	if err != nil {
		return err
	}
	defer stop()
	rs, err := t.Do(ctx, obd.Request{Service: 0x09, Data: []byte{0x02}, ECU: "7E8"})
	if err != nil {
		return fmt.Errorf("09 02 to 7E8: %w", err)
	}
	want := append([]byte{0x49, 0x02, 0x01}, kernelVIN...)
	if len(rs) != 1 || rs[0].ECU != "7E8" || !bytes.Equal(rs[0].Data, want) {
		return fmt.Errorf("09 02 to 7E8: got %v, want one answer from 7E8 [% X]", rs, want)
	}
	n.add("VIN %q from the kernel's ECU", rs[0].Data[3:])
	long := obd.Request{Service: 0x22, Data: pattern(30, 1), ECU: "7E8"}
	rs, err = t.Do(ctx, long)
	if err != nil {
		return fmt.Errorf("a %d-byte request to 7E8: %w", len(long.Bytes()), err)
	}
	if len(rs) != 1 || !bytes.Equal(rs[0].Data, append([]byte{0x62}, long.Data...)) {
		return fmt.Errorf("a %d-byte request: got %v", len(long.Bytes()), rs)
	}
	n.add("a %d-byte request answered under the kernel's block size 2 and STmin 1 ms", len(long.Bytes()))
	return stop()
}

// A frame of the ECU's answer lost on the way: the OBD transport returns
// an error rather than a VIN with a hole in it.
func checkOBDLostFrame(ctx context.Context, n *notes) error {
	br, err := link11.bridged(nil, onlyCF(1))
	if err != nil {
		return err
	}
	defer br.stop()
	t, stop, err := obdAgainstKernel(ctx, kernelIface, tpConfig{flags: isotpTxPadding, txPad: 0x55})
	if err != nil {
		return err
	}
	defer stop()
	rs, err := t.Do(ctx, obd.Request{Service: 0x09, Data: []byte{0x02}, ECU: "7E8"})
	var seq *isotp.SequenceError
	if err == nil {
		return fmt.Errorf("a VIN answer missing a frame was handed on: %v", rs)
	}
	if !errors.As(err, &seq) {
		return fmt.Errorf("got %v, want a sequence error", err)
	}
	n.add("%v", err)
	rs, err = t.Do(ctx, obd.Request{Service: 0x09, Data: []byte{0x02}, ECU: "7E8"})
	if err != nil || len(rs) != 1 || string(rs[0].Data[3:]) != kernelVIN {
		return fmt.Errorf("asked again after the lost frame: %v %v", rs, err)
	}
	if err := stop(); err != nil {
		return err
	}
	return br.stop()
}
