package isotp

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
)

// MemBus is an in-process CAN bus: every frame a port sends reaches every
// other open port whose filter accepts it. It stands in for real hardware in
// tests and in the simulator.
type MemBus struct {
	mu    sync.Mutex
	ports map[*MemPort]struct{}
}

// NewMemBus returns an empty bus.
func NewMemBus() *MemBus { return &MemBus{ports: make(map[*MemPort]struct{})} }

// memPortQueue is how many frames a port buffers before it overruns, like a
// CAN controller's receive FIFO.
const memPortQueue = 4096

// Port attaches a node. accept filters what it receives; nil accepts all.
func (b *MemBus) Port(accept func(Frame) bool) *MemPort {
	p := &MemPort{bus: b, accept: accept, rx: make(chan Frame, memPortQueue), done: make(chan struct{})}
	b.mu.Lock()
	b.ports[p] = struct{}{}
	b.mu.Unlock()
	return p
}

// MemPort is one node on a MemBus. It implements Bus.
type MemPort struct {
	bus      *MemBus
	accept   func(Frame) bool
	rx       chan Frame
	done     chan struct{}
	once     sync.Once
	overruns atomic.Uint64
}

// Send delivers f to every other port. A port whose queue is full loses the
// frame and counts an overrun, as a real controller would.
func (p *MemPort) Send(ctx context.Context, f Frame) error {
	if len(f.Data) > 8 {
		return fmt.Errorf("isotp: frame %X has %d data bytes, classic CAN carries at most 8", f.ID, len(f.Data))
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	select {
	case <-p.done:
		return ErrClosed
	default:
	}
	f.Data = append([]byte(nil), f.Data...)
	// One frame at a time, to every port, as on a wire: every node sees
	// the frames in the same order (a reply cannot overtake, at a third
	// node, the frame it answers).
	p.bus.mu.Lock()
	defer p.bus.mu.Unlock()
	for q := range p.bus.ports {
		if q == p || (q.accept != nil && !q.accept(f)) {
			continue
		}
		select {
		case q.rx <- f:
		default:
			q.overruns.Add(1)
		}
	}
	return nil
}

// Receive returns the next frame for this port.
func (p *MemPort) Receive(ctx context.Context) (Frame, error) {
	select {
	case f := <-p.rx:
		return f, nil
	case <-p.done:
		return Frame{}, ErrClosed
	case <-ctx.Done():
		return Frame{}, ctx.Err()
	}
}

// Overruns counts frames this port lost because its queue was full.
func (p *MemPort) Overruns() uint64 { return p.overruns.Load() }

// Close detaches the port; it is safe to call more than once.
func (p *MemPort) Close() error {
	p.once.Do(func() {
		p.bus.mu.Lock()
		delete(p.bus.ports, p)
		p.bus.mu.Unlock()
		close(p.done)
	})
	return nil
}

var _ Bus = (*MemPort)(nil)
