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
		conn := isotp.NewConn(port, resp, req, ext, isotp.Options{})
		wg.Add(1)
		go func(e *ECU) {
			defer wg.Done()
			defer port.Close()
			for {
				f, err := port.Receive(ctx)
				if err != nil {
					return
				}
				if f.ID == req || len(f.Data) < 2 || f.Data[0]>>4 != 0 || int(f.Data[0]) > len(f.Data)-1 || f.Data[0] == 0 {
					continue // flow control for an earlier answer, or not a request
				}
				payload := f.Data[1 : 1+f.Data[0]]
				r := obd.Request{Service: obd.Service(payload[0]), Data: payload[1:]}
				c.mu.Lock()
				c.Requests = append(c.Requests, r)
				msgs := c.answer(e, r)
				c.mu.Unlock()
				for _, m := range msgs {
					if err := conn.Send(ctx, m); err != nil {
						break
					}
				}
			}
		}(e)
	}
	return wg.Wait
}
