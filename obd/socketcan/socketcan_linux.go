//go:build linux

package socketcan

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-daq/canbus"
	"golang.org/x/sys/unix"

	"github.com/pitwall-io/pitwall/obd/isotp"
)

// pollInterval bounds how long a blocked receive waits before it looks
// whether the bus is being closed.
const pollInterval = 200 * time.Millisecond

// Bus is an isotp.Bus on a SocketCAN interface.
type Bus struct {
	sck     *canbus.Socket
	rx      chan isotp.Frame
	done    chan struct{}
	wg      sync.WaitGroup
	once    sync.Once
	dropped atomic.Uint64
	txWaits atomic.Uint64
	err     atomic.Value // the error that ended the receiver
}

// Open binds to an interface. With filters the kernel passes only matching
// frames (see OBDFilters; a filter should mask CAN_RTR_FLAG, as theirs
// do); with none, every data frame. Remote frames never reach the bus
// unfiltered: canbus v0.2.0 reports a 29-bit remote frame as a data frame
// of zeros, so the kernel is told to keep them back.
func Open(iface string, filters ...unix.CanFilter) (*Bus, error) {
	if len(filters) == 0 {
		filters = []unix.CanFilter{{Id: 0, Mask: unix.CAN_RTR_FLAG}}
	}
	sck, err := canbus.New()
	if err != nil {
		return nil, fmt.Errorf("socketcan: opening a CAN socket (is the can module loaded?): %w", err)
	}
	fd, err := fdOf(sck)
	if err == nil {
		err = unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &unix.Timeval{Usec: int64(pollInterval / time.Microsecond)})
	}
	if err == nil {
		err = sck.SetFilters(filters)
	}
	if err == nil {
		err = sck.Bind(iface)
	}
	if err != nil {
		_ = sck.Close()
		return nil, fmt.Errorf("socketcan: %s: %w", iface, err)
	}
	b := &Bus{sck: sck, rx: make(chan isotp.Frame, 1024), done: make(chan struct{})}
	b.wg.Add(1)
	go b.receive()
	return b, nil
}

// fdOf finds the socket's descriptor, which canbus v0.2.0 keeps private, so
// that a receive timeout can be set: without one a blocked read could not
// be ended when the bus is closed.
func fdOf(s *canbus.Socket) (int, error) {
	v := reflect.ValueOf(s).Elem().FieldByName("dev")
	if v.IsValid() {
		if fd := v.FieldByName("fd"); fd.IsValid() && fd.CanInt() {
			return int(fd.Int()), nil
		}
	}
	return 0, errors.New("socketcan: cannot find the socket descriptor in this canbus version")
}

// OBDFilters passes only OBD answers: 0x7E8–0x7EF, or 0x18DAF1xx with
// extended identifiers.
func OBDFilters(extended bool) []unix.CanFilter {
	if extended {
		return []unix.CanFilter{{Id: 0x18DAF100 | unix.CAN_EFF_FLAG, Mask: 0x1FFFFF00 | unix.CAN_EFF_FLAG | unix.CAN_RTR_FLAG}}
	}
	return []unix.CanFilter{{Id: 0x7E8, Mask: 0x7F8 | unix.CAN_EFF_FLAG | unix.CAN_RTR_FLAG}}
}

func (b *Bus) receive() {
	defer b.wg.Done()
	for {
		select {
		case <-b.done:
			return
		default:
		}
		f, err := b.sck.Recv()
		if err != nil {
			if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
				continue
			}
			b.err.Store(fmt.Errorf("socketcan: receiving: %w", err))
			close(b.rx)
			return
		}
		if f.Kind != canbus.SFF && f.Kind != canbus.EFF {
			continue // error and remote frames carry no data for us
		}
		select {
		case b.rx <- isotp.Frame{ID: f.ID, Extended: f.Kind == canbus.EFF, Data: f.Data}:
		default:
			b.dropped.Add(1)
		}
	}
}

// txTimeout is ISO 15765-2's N_As: how long a frame may take to get onto
// the bus, here the longest Send waits for room in the transmit queue.
const txTimeout = time.Second

// Send puts a frame on the bus. When the interface's transmit queue is full
// (the kernel answers ENOBUFS: frames come faster than the bus takes them,
// as a burst of consecutive frames with STmin 0 does on a real controller
// with its ten-frame queue), it waits for room, up to N_As.
func (b *Bus) Send(ctx context.Context, f isotp.Frame) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	kind := canbus.SFF
	if f.Extended {
		kind = canbus.EFF
	}
	frame := canbus.Frame{ID: f.ID, Data: f.Data, Kind: kind}
	var deadline time.Time
	pause := 100 * time.Microsecond // under half a frame at 500 kbit/s
	for {
		_, err := b.sck.Send(frame)
		if err == nil {
			return nil
		}
		if !errors.Is(err, unix.ENOBUFS) {
			return fmt.Errorf("socketcan: sending %v: %w", f, err)
		}
		if deadline.IsZero() {
			b.txWaits.Add(1)
			deadline = time.Now().Add(txTimeout)
		} else if time.Now().After(deadline) {
			return fmt.Errorf("socketcan: sending %v: %w for %v (%w)", f, ErrTxQueueFull, txTimeout, err)
		}
		t := time.NewTimer(pause)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-b.done:
			t.Stop()
			return isotp.ErrClosed
		}
		pause = min(2*pause, 2*time.Millisecond)
	}
}

// Receive returns the next frame the filters let through. A frame already
// received is returned even when ctx has just ended: a process that was
// not scheduled for a while must not call a frame late that came in time.
func (b *Bus) Receive(ctx context.Context) (isotp.Frame, error) {
	select {
	case f, ok := <-b.rx:
		if ok {
			return f, nil
		}
	default:
	}
	select {
	case f, ok := <-b.rx:
		if !ok {
			if err, _ := b.err.Load().(error); err != nil {
				return isotp.Frame{}, err
			}
			return isotp.Frame{}, isotp.ErrClosed
		}
		return f, nil
	case <-b.done:
		return isotp.Frame{}, isotp.ErrClosed
	case <-ctx.Done():
		return isotp.Frame{}, ctx.Err()
	}
}

// TxWaits counts sends that found the interface's transmit queue full
// and waited for room.
func (b *Bus) TxWaits() uint64 { return b.txWaits.Load() }

// Dropped counts frames lost because nobody read them in time.
func (b *Bus) Dropped() uint64 { return b.dropped.Load() }

// Close stops the receiver and closes the socket; it is safe to call twice.
func (b *Bus) Close() error {
	var err error
	b.once.Do(func() {
		close(b.done)
		b.wg.Wait() // the receiver wakes within pollInterval
		err = b.sck.Close()
	})
	return err
}

// OpenOBD opens the interface of cfg as an OBD transport, filtered to the
// ECUs' answers.
func OpenOBD(cfg Config, opt isotp.OBDOptions) (*isotp.OBD, *Bus, error) {
	bus, err := Open(cfg.Interface, OBDFilters(cfg.Extended)...)
	if err != nil {
		return nil, nil, err
	}
	opt.Extended, opt.Bitrate = cfg.Extended, cfg.Bitrate
	if cfg.P2 > 0 && opt.P2 == 0 {
		opt.P2 = cfg.P2
	}
	return isotp.NewOBD(bus, opt), bus, nil
}

var _ isotp.Bus = (*Bus)(nil)

// OpenIDs binds to an interface passing only frames with the given
// identifiers: what a simulated ECU listens to.
func OpenIDs(iface string, ids []uint32, extended bool) (*Bus, error) {
	var fs []unix.CanFilter
	for _, id := range ids {
		f := unix.CanFilter{Id: id, Mask: unix.CAN_SFF_MASK | unix.CAN_EFF_FLAG | unix.CAN_RTR_FLAG}
		if extended {
			f = unix.CanFilter{Id: id | unix.CAN_EFF_FLAG, Mask: unix.CAN_EFF_MASK | unix.CAN_EFF_FLAG | unix.CAN_RTR_FLAG}
		}
		fs = append(fs, f)
	}
	return Open(iface, fs...)
}
