package isotp

// Reassembler rebuilds one sender's message from its frames and says when
// our side owes a flow-control frame. It does no I/O, so the point-to-point
// Conn, the many-ECU OBD transport and an ELM327 showing raw frames with
// headers on all share it. The zero value asks for no block limit.
type Reassembler struct {
	opt     Options
	buf     []byte
	want    int  // total length announced by the first frame; 0 when idle
	next    byte // expected consecutive-frame sequence number
	inBlock int  // consecutive frames received since our last flow control
}

// NewReassembler returns a reassembler whose flow control asks for the
// block size and STmin of opt.
func NewReassembler(opt Options) *Reassembler { return &Reassembler{opt: opt} }

// Active reports whether a multi-frame message is part way through.
func (r *Reassembler) Active() bool { return r.want > 0 }

func (r *Reassembler) reset() { r.buf, r.want, r.next, r.inBlock = nil, 0, 0, 0 }

// Feed takes one frame from the sender. It returns the complete message when
// the frame finishes one, and the data of a flow-control frame to send back
// when one is due. A single or first frame in the middle of a message
// abandons the old one, as ISO 15765-2 prescribes; a consecutive frame out
// of sequence abandons it with an error; frames that belong to no message
// are ignored.
func (r *Reassembler) Feed(f Frame) (msg, fc []byte, err error) {
	p, err := decodePCI(f)
	if err != nil {
		r.reset()
		return nil, nil, err
	}
	switch p.kind {
	case typeSingle:
		r.reset()
		return append([]byte(nil), p.payload...), nil, nil
	case typeFirst:
		r.reset()
		r.want = p.length
		r.buf = append(make([]byte, 0, p.length), p.payload...)
		r.next = 1
		return nil, flowControlFrame(flowContinue, r.opt.BlockSize, stminByte(r.opt.STmin)), nil
	case typeConsecutive:
		if !r.Active() {
			return nil, nil, nil
		}
		if p.seq != r.next {
			want := r.next
			r.reset()
			return nil, nil, &SequenceError{ID: f.ID, Want: want, Got: p.seq}
		}
		r.next = (r.next + 1) & 0x0F
		take := min(len(p.payload), r.want-len(r.buf)) // the rest is padding
		r.buf = append(r.buf, p.payload[:take]...)
		if len(r.buf) == r.want {
			m := r.buf
			r.reset()
			return m, nil, nil
		}
		r.inBlock++
		if r.opt.BlockSize > 0 && r.inBlock == int(r.opt.BlockSize) {
			r.inBlock = 0
			return nil, flowControlFrame(flowContinue, r.opt.BlockSize, stminByte(r.opt.STmin)), nil
		}
	}
	return nil, nil, nil
}
