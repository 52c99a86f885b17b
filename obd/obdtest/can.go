package obdtest

import (
	"context"
	"strconv"
	"sync"

	"github.com/pitwall-io/pitwall/obd"
	"github.com/pitwall-io/pitwall/obd/isotp"
)

// ServeCAN puts the car's ECUs on a frame bus: each answers functional
// requests on its response identifier (the ECU's address, e.g. 7E8 or
// 18DAF110) over ISO-TP, flow control included. The ECUs are on the bus
// when ServeCAN returns; they stop when ctx ends, and wait waits for that.
func (c *Car) ServeCAN(ctx context.Context, bus *isotp.MemBus) (wait func()) {
	var wg sync.WaitGroup
	for _, e := range c.ECUs {
		id, err := strconv.ParseUint(string(e.Addr), 16, 32)
		if err != nil {
			panic("obdtest: ECU address " + string(e.Addr) + " is not a CAN identifier")
		}
		resp := uint32(id)
		ext := len(e.Addr) > 3
		req := isotp.RequestIDFor(resp, ext)
		port := bus.Port(func(f isotp.Frame) bool {
			return f.Extended == ext && (f.ID == req || f.ID == isotp.FunctionalID11 && !ext || f.ID == isotp.FunctionalID29 && ext)
		})
		wg.Add(1)
		go func(e *ECU) {
			defer wg.Done()
			defer port.Close()
			_ = isotp.ServeECU(ctx, port, resp, ext, isotp.Options{}, func(_ context.Context, b []byte, functional bool) [][]byte {
				r := obd.Request{Service: obd.Service(b[0]), Data: b[1:]}
				if !functional {
					r.ECU = e.Addr
				}
				c.mu.Lock()
				defer c.mu.Unlock()
				c.Requests = append(c.Requests, r)
				return c.answer(e, r)
			})
		}(e)
	}
	return wg.Wait
}
