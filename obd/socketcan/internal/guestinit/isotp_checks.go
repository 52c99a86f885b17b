//go:build linux

package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"golang.org/x/sys/unix"

	"github.com/pitwall-io/pitwall/obd/isotp"
	"github.com/pitwall-io/pitwall/obd/socketcan"
)

// Where the ISO-TP checks run: Pitwall is always on vcan0; the kernel's
// endpoint is on vcan0 too, or on vcan1 behind a bridge when frames must
// be lost or held back on the way.
const (
	pitwallIface = "vcan0"
	kernelIface  = "vcan1"
)

// link is one pair of ISO-TP identifiers: Pitwall, the tester, sends on
// tester and the kernel, the ECU, answers on ecu.
type link struct {
	tester, ecu uint32
	extended    bool
}

var (
	link11 = link{tester: 0x7E0, ecu: 0x7E8}
	link29 = link{tester: 0x18DA10F1, ecu: 0x18DAF110, extended: true}
)

// raw gives an identifier as CAN_RAW and CAN_ISOTP sockets write it.
func (l link) raw(id uint32) uint32 {
	if l.extended {
		return id | unix.CAN_EFF_FLAG
	}
	return id
}

// kernelEnd opens the kernel's endpoint of the link on iface.
func (l link) kernelEnd(iface string, c tpConfig) (*kernelTP, error) {
	c.rx, c.tx = l.raw(l.tester), l.raw(l.ecu)
	return openTP(iface, c)
}

// patient is how long Pitwall's endpoints wait for flow control and
// consecutive frames (N_Bs, N_Cr) in checks that are not about those
// timeouts: an emulated guest on a busy host can stall for over the
// standard second, and these checks judge the data, not the host.
const patient = 5 * time.Second

// pitwallEnd opens Pitwall's endpoint: a socketcan bus passing only the
// ECU's frames and an isotp.Conn on it.
func (l link) pitwallEnd(opt isotp.Options) (*isotp.Conn, *socketcan.Bus, error) {
	if opt.TimeoutBs == 0 {
		opt.TimeoutBs = patient
	}
	if opt.TimeoutCr == 0 {
		opt.TimeoutCr = patient
	}
	bus, err := socketcan.OpenIDs(pitwallIface, []uint32{l.ecu}, l.extended)
	if err != nil {
		return nil, nil, err
	}
	return isotp.NewConn(bus, l.tester, l.ecu, l.extended, opt), bus, nil
}

// bridged carries the link's two identifiers between vcan0 and vcan1.
func (l link) bridged(testerRule, ecuRule hop) (*bridge, error) {
	return startBridge(pitwallIface, kernelIface, l.raw(l.tester), l.raw(l.ecu), testerRule, ecuRule)
}

// pattern is n bytes that differ from message to message.
func pattern(n int, salt byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7) + salt
	}
	return b
}

// strictRx makes the kernel refuse frames that are not padded to eight
// bytes with pad: the padding ISO 15765-4 requires on OBD buses.
func strictRx(pad byte) tpConfig {
	return tpConfig{flags: isotpRxPadding | isotpChkPadLen | isotpChkPadData, rxPad: pad}
}

type readResult struct {
	msg []byte
	err error
}

func readAsync(k *kernelTP, d time.Duration) <-chan readResult {
	c := make(chan readResult, 1)
	go func() {
		m, err := k.read(d)
		c <- readResult{m, err}
	}()
	return c
}

// sendToKernel sends each payload with Pitwall's Conn and reads it from the
// kernel's socket.
func sendToKernel(ctx context.Context, conn *isotp.Conn, k *kernelTP, payloads ...[]byte) error {
	for _, p := range payloads {
		got := readAsync(k, 10*time.Second)
		if err := conn.Send(ctx, p); err != nil {
			return fmt.Errorf("pitwall sending %d bytes: %w", len(p), err)
		}
		r := <-got
		if r.err != nil {
			return fmt.Errorf("kernel receiving %d bytes: %w", len(p), r.err)
		}
		if !bytes.Equal(r.msg, p) {
			return fmt.Errorf("kernel received %d bytes [% X], Pitwall sent %d [% X]", len(r.msg), head(r.msg), len(p), head(p))
		}
	}
	return nil
}

// receiveFromKernel writes each payload to the kernel's socket and receives
// it with Pitwall's Conn.
func receiveFromKernel(ctx context.Context, conn *isotp.Conn, k *kernelTP, payloads ...[]byte) error {
	for _, p := range payloads {
		wrote := make(chan error, 1)
		go func() { wrote <- k.write(p) }()
		got, err := conn.Receive(ctx)
		if err != nil {
			return fmt.Errorf("pitwall receiving %d bytes: %w (kernel: %v)", len(p), err, waitErr(wrote))
		}
		if err := waitErr(wrote); err != nil {
			return fmt.Errorf("kernel sending %d bytes: %w", len(p), err)
		}
		if !bytes.Equal(got, p) {
			return fmt.Errorf("pitwall received %d bytes [% X], the kernel sent %d [% X]", len(got), head(got), len(p), head(p))
		}
	}
	return nil
}

func waitErr(c <-chan error) error {
	select {
	case err := <-c:
		return err
	case <-time.After(10 * time.Second):
		return errors.New("still blocked after 10 s")
	}
}

// head shortens long messages in reports.
func head(b []byte) []byte {
	if len(b) > 24 {
		return b[:24]
	}
	return b
}

func sizes(ns ...int) [][]byte {
	var out [][]byte
	for i, n := range ns {
		out = append(out, pattern(n, byte(i)))
	}
	return out
}

// ends opens the kernel's endpoint of the link on kernelIf and Pitwall's on
// vcan0; done closes both.
func (l link) ends(kernelIf string, c tpConfig, opt isotp.Options) (k *kernelTP, conn *isotp.Conn, done func(), err error) {
	k, err = l.kernelEnd(kernelIf, c)
	if err != nil {
		return nil, nil, nil, err
	}
	conn, bus, err := l.pitwallEnd(opt)
	if err != nil {
		k.Close()
		return nil, nil, nil, err
	}
	return k, conn, func() { bus.Close(); k.Close() }, nil
}

// recorded runs f while recording vcan0 and returns the recording.
func recorded(f func() error) ([]frame, error) {
	sn, err := sniff(pitwallIface)
	if err != nil {
		return nil, err
	}
	err = f()
	frames, serr := sn.stop()
	if err == nil {
		err = serr
	}
	return frames, err
}

// onlyCF returns a bridge rule that drops consecutive frame number drop
// (from 1) of those it sees, once.
func onlyCF(drop int) hop {
	cf := 0
	return func(_ int, f frame) (bool, time.Duration) {
		if len(f.data) > 0 && f.data[0]>>4 == 2 {
			cf++
			return cf == drop, 0
		}
		return false, 0
	}
}

// Pitwall's single frames reach the kernel intact and correctly padded.
func checkToKernelSingle(ctx context.Context, n *notes) error {
	k, conn, done, err := link11.ends(pitwallIface, strictRx(0xCC), isotp.Options{})
	if err != nil {
		return err
	}
	defer done()
	return sendToKernel(ctx, conn, k, sizes(1, 2, 6, 7)...)
}

// Multi-frame messages up to ISO-TP's longest reach the kernel intact.
func checkToKernelMulti(ctx context.Context, n *notes) error {
	k, conn, done, err := link11.ends(pitwallIface, strictRx(0xCC), isotp.Options{})
	if err != nil {
		return err
	}
	defer done()
	return sendToKernel(ctx, conn, k, sizes(8, 13, 62, 63, 500, isotp.MaxPayload)...)
}

// Pitwall waits for the kernel's flow control after each block and keeps
// STmin between consecutive frames. The bridge holds the kernel's flow
// control back 20 ms, so a sender that ran past the block end would show.
func checkToKernelBlockSTmin(ctx context.Context, n *notes) error {
	const bs, stmin = 4, 5 * time.Millisecond
	br, err := link11.bridged(nil, func(int, frame) (bool, time.Duration) { return false, 20 * time.Millisecond })
	if err != nil {
		return err
	}
	defer br.stop()
	cfg := strictRx(0xCC)
	cfg.bs, cfg.stmin = bs, 5
	k, conn, done, err := link11.ends(kernelIface, cfg, isotp.Options{})
	if err != nil {
		return err
	}
	defer done()
	// a first frame and 14 consecutive frames
	frames, err := recorded(func() error { return sendToKernel(ctx, conn, k, pattern(100, 3)) })
	if err != nil {
		return err
	}
	r, err := checkFlow(frames, link11.tester, link11.ecu, bs, stmin, true)
	n.add("%v", r)
	if err != nil {
		return err
	}
	if r.consecutive != 14 || len(r.flowControl) != 4 {
		return fmt.Errorf("want 14 consecutive frames in blocks of %d (4 flow controls), saw %v", bs, r)
	}
	return br.stop()
}

// STmin below a millisecond (the F1–F9 codes) is kept too.
func checkToKernelSTminMicro(ctx context.Context, n *notes) error {
	cfg := strictRx(0xCC)
	cfg.stmin = 0xF5 // 500 µs
	k, conn, done, err := link11.ends(pitwallIface, cfg, isotp.Options{})
	if err != nil {
		return err
	}
	defer done()
	frames, err := recorded(func() error { return sendToKernel(ctx, conn, k, pattern(90, 5)) })
	if err != nil {
		return err
	}
	r, err := checkFlow(frames, link11.tester, link11.ecu, 0, 500*time.Microsecond, true)
	n.add("%v", r)
	return err
}

// A consecutive frame lost between Pitwall and the kernel makes the
// kernel report a wrong sequence number instead of a message; the next
// message gets through whole.
func checkToKernelLost(ctx context.Context, n *notes) error {
	br, err := link11.bridged(onlyCF(3), nil)
	if err != nil {
		return err
	}
	defer br.stop()
	k, conn, done, err := link11.ends(kernelIface, strictRx(0xCC), isotp.Options{})
	if err != nil {
		return err
	}
	defer done()
	got := readAsync(k, 5*time.Second)
	if err := conn.Send(ctx, pattern(60, 9)); err != nil {
		return fmt.Errorf("pitwall sending: %w", err)
	}
	r := <-got
	if r.err == nil {
		return fmt.Errorf("the kernel delivered %d bytes [% X] from a transfer missing a frame", len(r.msg), head(r.msg))
	}
	if !errors.Is(r.err, unix.EILSEQ) {
		return fmt.Errorf("the kernel reported %v, want EILSEQ (wrong sequence number)", r.err)
	}
	n.add("the kernel reported EILSEQ (%v)", r.err)
	if err := sendToKernel(ctx, conn, k, pattern(60, 10)); err != nil {
		return fmt.Errorf("after the lost frame: %w", err)
	}
	return br.stop()
}

// The kernel's single frames, padded or not, reach Pitwall intact.
func checkFromKernelSingle(ctx context.Context, n *notes) error {
	for _, cfg := range []tpConfig{{}, {flags: isotpTxPadding, txPad: 0xAA}} {
		k, conn, done, err := link11.ends(pitwallIface, cfg, isotp.Options{})
		if err != nil {
			return err
		}
		err = receiveFromKernel(ctx, conn, k, sizes(1, 3, 7)...)
		done()
		if err != nil {
			return fmt.Errorf("kernel padding %v: %w", cfg.flags&isotpTxPadding != 0, err)
		}
	}
	return nil
}

// The kernel's multi-frame messages reach Pitwall intact, and the kernel,
// checking padding strictly, takes Pitwall's flow control.
func checkFromKernelMulti(ctx context.Context, n *notes) error {
	cfg := strictRx(0xCC)
	cfg.flags |= isotpWaitTxDone
	k, conn, done, err := link11.ends(pitwallIface, cfg, isotp.Options{})
	if err != nil {
		return err
	}
	defer done()
	return receiveFromKernel(ctx, conn, k, sizes(8, 20, 63, 500, isotp.MaxPayload)...)
}

// The kernel obeys the block size and STmin of Pitwall's flow control:
// proof that Pitwall encodes them as ISO 15765-2 says, microsecond codes
// included.
func checkFromKernelBlockSTmin(ctx context.Context, n *notes) error {
	for _, tc := range []struct {
		bs    byte
		stmin time.Duration
		code  byte
	}{{3, 5 * time.Millisecond, 0x05}, {0, 300 * time.Microsecond, 0xF3}} {
		cfg := strictRx(0xCC)
		cfg.flags |= isotpWaitTxDone
		k, conn, done, err := link11.ends(pitwallIface, cfg, isotp.Options{BlockSize: tc.bs, STmin: tc.stmin})
		if err != nil {
			return err
		}
		frames, err := recorded(func() error { return receiveFromKernel(ctx, conn, k, pattern(100, 7)) })
		done()
		if err != nil {
			return err
		}
		r, err := checkFlow(frames, link11.ecu, link11.tester, int(tc.bs), tc.stmin, false)
		n.add("bs %d stmin %v: %v", tc.bs, tc.stmin, r)
		if err != nil {
			return err
		}
		wantFC := 1
		if tc.bs > 0 {
			wantFC += (r.consecutive - 1) / int(tc.bs)
		}
		if r.consecutive != 14 || len(r.flowControl) != wantFC {
			return fmt.Errorf("bs %d: want 14 consecutive frames and %d flow controls from Pitwall, saw %v", tc.bs, wantFC, r)
		}
		for _, fc := range r.flowControl {
			want := []byte{0x30, tc.bs, tc.code, 0xCC, 0xCC, 0xCC, 0xCC, 0xCC}
			if !bytes.Equal(fc.data, want) {
				return fmt.Errorf("pitwall's flow control %v, want [% X]", fc, want)
			}
		}
	}
	return nil
}

// A consecutive frame lost between the kernel and Pitwall makes Pitwall's
// receiver report the sequence error rather than hand on a message with a
// hole; the next message gets through whole. Losing the last frame ends
// in the N_Cr timeout, not in a short message.
func checkFromKernelLost(ctx context.Context, n *notes) error {
	for _, tc := range []struct {
		drop int // which consecutive frame of the first message
		size int
		want error
	}{{3, 60, &isotp.SequenceError{}}, {2, 20, isotp.ErrTimeoutCr}} {
		if err := func() error {
			br, err := link11.bridged(nil, onlyCF(tc.drop))
			if err != nil {
				return err
			}
			defer br.stop()
			// The standard N_Cr of 1 s where a lost last frame must time out.
			opt := isotp.Options{}
			if tc.want == isotp.ErrTimeoutCr {
				opt.TimeoutCr = time.Second
			}
			k, conn, done, err := link11.ends(kernelIface, tpConfig{}, opt)
			if err != nil {
				return err
			}
			defer done()
			wrote := make(chan error, 1)
			go func() { wrote <- k.write(pattern(tc.size, 11)) }()
			msg, err := conn.Receive(ctx)
			_ = waitErr(wrote)
			var seq *isotp.SequenceError
			switch {
			case err == nil:
				return fmt.Errorf("pitwall delivered %d bytes [% X] from a transfer missing frame %d", len(msg), head(msg), tc.drop)
			case errors.As(tc.want, &seq) && !errors.As(err, &seq):
				return fmt.Errorf("frame %d lost: Pitwall reported %v, want a sequence error", tc.drop, err)
			case !errors.As(tc.want, &seq) && !errors.Is(err, tc.want):
				return fmt.Errorf("frame %d lost: Pitwall reported %v, want %v", tc.drop, err, tc.want)
			}
			n.add("frame %d of %d bytes lost: %v", tc.drop, tc.size, err)
			if err := receiveFromKernel(ctx, conn, k, pattern(tc.size, 12)); err != nil {
				return fmt.Errorf("after the lost frame: %w", err)
			}
			return br.stop()
		}(); err != nil {
			return err
		}
	}
	return nil
}

// 29-bit identifiers (ISO 15765-4 protocols 7 and 9) both ways.
func checkExtended(ctx context.Context, n *notes) error {
	cfg := strictRx(0xCC)
	cfg.flags |= isotpWaitTxDone | isotpTxPadding
	cfg.txPad, cfg.bs, cfg.stmin = 0x55, 2, 1
	k, conn, done, err := link29.ends(pitwallIface, cfg, isotp.Options{BlockSize: 2})
	if err != nil {
		return err
	}
	defer done()
	if err := sendToKernel(ctx, conn, k, sizes(5, 40)...); err != nil {
		return err
	}
	if err := receiveFromKernel(ctx, conn, k, sizes(5, 40)...); err != nil {
		return err
	}
	n.add("5 and 40 bytes each way between %08X and %08X", link29.tester, link29.ecu)
	return nil
}
