package dongle

import (
	"time"

	"github.com/pitwall-io/pitwall/obd"
)

// Plan is a request pattern the timing model prices.
type Plan struct {
	PIDs    []obd.PID     // service 01 PIDs read each round, all from one ECU
	Latency time.Duration // that ECU's mean response time
}

// RequestTime is the model's time for one service 01 request of pids to
// one ECU, headers on and spaces off, from the host's first byte to the
// prompt:
//
//	T = (c+1)·b + t_frame + λ + max(F·(h+2·8+1)·b, τ) + 2·b
//
// with b = 10/baud seconds a byte, c the request's hex digits (plus the
// count digit), t_frame the request frame on the bus (0.25 ms), λ the
// ECU's response time, F the CAN frames of the answer (one line each:
// h = 3 header digits, eight data bytes, CR), τ the wait for more answers
// after the last frame, which runs while the lines go out: 0 with the
// count digit, else the adaptive timeout max(25 ms, 1.5·g + 10 ms) capped
// at ST (200 ms), g being the slowest of the recent answers, about 1.4·λ
// with the modules' ±20 % spread; and 2·b the blank line and prompt. The consecutive
// frames' gaps (0.6 ms) hide under the output of the lines before them.
func RequestTime(p Profile, pids []obd.PID, latency time.Duration, countDigit bool) time.Duration {
	b := byteTime(p.Baud)
	msg := 1
	for _, x := range pids {
		info, _ := obd.Lookup(x)
		msg += 1 + info.Bytes
	}
	frames := obd.CANFrames(msg)
	digits := 2 + 2*len(pids)
	if countDigit {
		digits++
	}
	out := time.Duration(frames*(3+16+1)) * b
	var wait time.Duration
	if !countDigit {
		g := frameTime + latency*14/10
		wait = min(200*time.Millisecond, max(25*time.Millisecond, g*3/2+10*time.Millisecond))
	}
	return time.Duration(digits+1)*b + frameTime + latency + max(out, wait) + 2*b
}

// BestRate is the most PIDs per second a client can read the plan at
// through an adapter of profile p: packed six to a request where the
// profile passes packed requests, one at a time otherwise, with the count
// digit where the profile honours it. Agents are measured against it.
func BestRate(p Profile, plan Plan) float64 {
	pack := 1
	if p.Packed {
		pack = obd.MaxPack
	}
	var total time.Duration
	for i := 0; i < len(plan.PIDs); i += pack {
		chunk := plan.PIDs[i:min(i+pack, len(plan.PIDs))]
		total += RequestTime(p, chunk, plan.Latency, p.CountDigit)
	}
	return float64(len(plan.PIDs)) / total.Seconds()
}
