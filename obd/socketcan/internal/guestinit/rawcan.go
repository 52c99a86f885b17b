//go:build linux

package main

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// frame is one classic CAN frame as the kernel's CAN_RAW side sees it: id
// carries CAN_EFF_FLAG for 29-bit identifiers, at is the kernel's receive
// timestamp.
type frame struct {
	id   uint32
	data []byte
	at   time.Time
}

func (f frame) String() string {
	if f.id&unix.CAN_EFF_FLAG != 0 {
		return fmt.Sprintf("%08X [% X]", f.id&unix.CAN_EFF_MASK, f.data)
	}
	return fmt.Sprintf("%03X [% X]", f.id, f.data)
}

// rawSocket is a CAN_RAW socket opened straight on the kernel, without
// Pitwall's socketcan package: the checks' own eyes on the bus.
type rawSocket struct{ fd int }

// openRaw binds a CAN_RAW socket to iface, passing only frames with the
// given identifiers (all frames with none), with kernel timestamps on.
func openRaw(iface string, ids ...uint32) (*rawSocket, error) {
	ifi, err := net.InterfaceByName(iface)
	if err != nil {
		return nil, err
	}
	fd, err := unix.Socket(unix.AF_CAN, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.CAN_RAW)
	if err != nil {
		return nil, fmt.Errorf("CAN_RAW socket: %w", err)
	}
	s := &rawSocket{fd: fd}
	fail := func(err error) (*rawSocket, error) { unix.Close(fd); return nil, err }
	if len(ids) > 0 {
		var fs []unix.CanFilter
		for _, id := range ids {
			mask := uint32(unix.CAN_SFF_MASK | unix.CAN_EFF_FLAG | unix.CAN_RTR_FLAG)
			if id&unix.CAN_EFF_FLAG != 0 {
				mask = unix.CAN_EFF_MASK | unix.CAN_EFF_FLAG | unix.CAN_RTR_FLAG
			}
			fs = append(fs, unix.CanFilter{Id: id, Mask: mask})
		}
		if err := unix.SetsockoptCanRawFilter(fd, unix.SOL_CAN_RAW, unix.CAN_RAW_FILTER, fs); err != nil {
			return fail(fmt.Errorf("CAN_RAW_FILTER: %w", err))
		}
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1); err != nil {
		return fail(fmt.Errorf("SO_TIMESTAMPNS: %w", err))
	}
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &unix.Timeval{Usec: 20000}); err != nil {
		return fail(err)
	}
	if err := unix.Bind(fd, &unix.SockaddrCAN{Ifindex: ifi.Index}); err != nil {
		return fail(fmt.Errorf("binding to %s: %w", iface, err))
	}
	return s, nil
}

func (s *rawSocket) Close() error { return unix.Close(s.fd) }

func (s *rawSocket) send(f frame) error {
	var b [16]byte
	binary.NativeEndian.PutUint32(b[0:], f.id)
	b[4] = byte(len(f.data))
	copy(b[8:], f.data)
	_, err := unix.Write(s.fd, b[:])
	return err
}

// errNoFrame: nothing arrived within the socket's short receive timeout.
var errNoFrame = errors.New("no frame")

// recv returns the next frame with its kernel timestamp, or errNoFrame
// after 20 ms without one.
func (s *rawSocket) recv() (frame, error) {
	var b [16]byte
	oob := make([]byte, unix.CmsgSpace(16))
	n, oobn, _, _, err := unix.Recvmsg(s.fd, b[:], oob, 0)
	if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
		return frame{}, errNoFrame
	}
	if err != nil {
		return frame{}, err
	}
	if n != len(b) {
		return frame{}, fmt.Errorf("CAN_RAW read of %d bytes, want %d", n, len(b))
	}
	f := frame{id: binary.NativeEndian.Uint32(b[0:]), data: append([]byte(nil), b[8:8+min(int(b[4]), 8)]...)}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil {
		return f, err
	}
	for _, m := range msgs {
		if m.Header.Level == unix.SOL_SOCKET && m.Header.Type == unix.SCM_TIMESTAMPNS && len(m.Data) >= 16 {
			f.at = time.Unix(int64(binary.NativeEndian.Uint64(m.Data[0:])), int64(binary.NativeEndian.Uint64(m.Data[8:])))
		}
	}
	if f.at.IsZero() {
		return f, errors.New("CAN_RAW frame without a kernel timestamp")
	}
	return f, nil
}

// sniffer records every frame on an interface until stopped.
type sniffer struct {
	s      *rawSocket
	cancel context.CancelFunc
	wg     sync.WaitGroup
	mu     sync.Mutex
	frames []frame
	err    error
}

func sniff(iface string) (*sniffer, error) {
	s, err := openRaw(iface)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	sn := &sniffer{s: s, cancel: cancel}
	sn.wg.Add(1)
	go func() {
		defer sn.wg.Done()
		for {
			f, err := s.recv()
			if errors.Is(err, errNoFrame) {
				if ctx.Err() != nil {
					return // stopped, and the socket's queue is empty
				}
				continue
			}
			sn.mu.Lock()
			if err != nil {
				sn.err = err
				sn.mu.Unlock()
				return
			}
			sn.frames = append(sn.frames, f)
			sn.mu.Unlock()
		}
	}()
	return sn, nil
}

// stop ends the recording and returns it. Frames still queued in the
// socket are read first: a frame sent is in every socket's queue by the
// time its send returns.
func (sn *sniffer) stop() ([]frame, error) {
	sn.cancel()
	sn.wg.Wait()
	sn.s.Close()
	return sn.frames, sn.err
}

// bridge joins two interfaces through two CAN_RAW sockets, carrying the
// frames of one identifier each way, so that a check can lose or hold back
// chosen frames between Pitwall on one side and the kernel's ISO-TP on the
// other.
type bridge struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
	mu     sync.Mutex
	err    error
	socks  []*rawSocket
}

// hop decides a frame's fate: drop it, or hold it back for delay first.
// n counts the frames seen in that direction, from 1.
type hop func(n int, f frame) (drop bool, delay time.Duration)

// startBridge carries frames with id ab from ifA to ifB and frames with id
// ba from ifB to ifA, each through its rule (nil passes everything).
func startBridge(ifA, ifB string, ab, ba uint32, ruleAB, ruleBA hop) (*bridge, error) {
	a, err := openRaw(ifA, ab)
	if err != nil {
		return nil, err
	}
	b, err := openRaw(ifB, ba)
	if err != nil {
		a.Close()
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	br := &bridge{cancel: cancel, socks: []*rawSocket{a, b}}
	run := func(from, to *rawSocket, rule hop) {
		defer br.wg.Done()
		n := 0
		for ctx.Err() == nil {
			f, err := from.recv()
			if errors.Is(err, errNoFrame) {
				continue
			}
			if err == nil {
				n++
				drop, delay := false, time.Duration(0)
				if rule != nil {
					drop, delay = rule(n, f)
				}
				if drop {
					continue
				}
				if delay > 0 {
					time.Sleep(delay)
				}
				err = to.send(f)
			}
			if err != nil {
				br.mu.Lock()
				br.err = err
				br.mu.Unlock()
				return
			}
		}
	}
	br.wg.Add(2)
	go run(a, b, ruleAB)
	go run(b, a, ruleBA)
	return br, nil
}

// stop ends the bridge and says whether it failed on the way.
func (br *bridge) stop() error {
	br.cancel()
	br.wg.Wait()
	for _, s := range br.socks {
		s.Close()
	}
	return br.err
}
