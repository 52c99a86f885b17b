//go:build linux

package main

import (
	"fmt"
	"time"
)

// stminSlack allows for the clock's granularity when a gap between
// consecutive frames, taken from the kernel's receive timestamps, is
// compared with STmin. A sender that ignores STmin shows gaps of a few
// microseconds, far below it.
const stminSlack = 50 * time.Microsecond

// flowReport is what one ISO-TP transfer looked like on the bus.
type flowReport struct {
	consecutive int           // consecutive frames seen
	flowControl []frame       // flow-control frames, in order
	minGap      time.Duration // shortest gap between two consecutive frames
}

func (r flowReport) String() string {
	return fmt.Sprintf("%d consecutive frames, %d flow controls, shortest gap %v", r.consecutive, len(r.flowControl), r.minGap)
}

// checkFlow reads one transfer out of a recording (data frames on dataID,
// flow control on fcID) and checks it against ISO 15765-2: no consecutive
// frame before the first flow control, at most bs of them per flow control
// when bs > 0, and at least stmin between two of them in one block. With
// acrossBlocks the gap from a block's last frame to the next block's first
// counts too: Pitwall keeps STmin there, the kernel does not (it sends the
// next block's first frame as soon as flow control arrives, and the
// receiver's flow control says it is ready).
func checkFlow(frames []frame, dataID, fcID uint32, bs int, stmin time.Duration, acrossBlocks bool) (flowReport, error) {
	var r flowReport
	inBlock := 0
	started := false
	var last time.Time
	for _, f := range frames {
		if len(f.data) == 0 || (f.id != dataID && f.id != fcID) {
			continue
		}
		kind := f.data[0] >> 4
		switch {
		case f.id == dataID && kind == 1: // first frame
			if started {
				return r, fmt.Errorf("a second first frame %v in one transfer", f)
			}
			started = true
			inBlock = -1 // nothing may follow until flow control
		case f.id == fcID && kind == 3 && started:
			r.flowControl = append(r.flowControl, f)
			inBlock = 0
			if !acrossBlocks {
				last = time.Time{}
			}
		case f.id == dataID && kind == 2 && started:
			if inBlock < 0 {
				return r, fmt.Errorf("consecutive frame %v sent before any flow control", f)
			}
			inBlock++
			r.consecutive++
			if bs > 0 && inBlock > bs {
				return r, fmt.Errorf("consecutive frame %v is number %d since the last flow control, block size %d", f, inBlock, bs)
			}
			if !last.IsZero() {
				gap := f.at.Sub(last)
				if r.minGap == 0 || gap < r.minGap {
					r.minGap = gap
				}
				if gap < stmin-stminSlack {
					return r, fmt.Errorf("consecutive frame %v came %v after the previous one, STmin %v", f, gap, stmin)
				}
			}
			last = f.at
		}
	}
	if !started {
		return r, fmt.Errorf("no first frame on %X in %d frames recorded", dataID, len(frames))
	}
	return r, nil
}
