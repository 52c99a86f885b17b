package ingest

// window is how many numbers behind the newest a device's tracker
// remembers, to tell a late arrival from a duplicate.
const window = 4096

// sequence follows one device's message numbers. The agent numbers every
// message once, contiguously, across reboots (its spool keeps the count),
// so a number seen twice is a duplicate (QoS 1 redelivery, a resend after a
// reconnect) and a number skipped is a gap until it arrives late.
type sequence struct {
	boot    uint64
	newest  uint64
	seen    [window / 64]uint64 // bit n%window: number n was seen
	missing int64               // numbers skipped and not yet arrived
}

// seqResult classifies one number.
type seqResult struct {
	gap       uint64 // numbers skipped by this one
	duplicate bool
	late      bool // it fills an earlier gap
	restart   bool // a new boot
	reset     bool // a new boot that started numbering again (spool lost)
}

func (s *sequence) bit(n uint64) (int, uint64) { return int(n%window) / 64, 1 << (n % 64) }

func (s *sequence) mark(n uint64) {
	i, b := s.bit(n)
	s.seen[i] |= b
}

func (s *sequence) has(n uint64) bool {
	i, b := s.bit(n)
	return s.seen[i]&b != 0
}

// observe records number n of boot.
func (s *sequence) observe(boot, n uint64) seqResult {
	var r seqResult
	if boot != s.boot {
		r.restart = s.boot != 0
		s.boot = boot
		if r.restart && n+window <= s.newest {
			// Far behind: the device started counting again.
			r.reset = true
			*s = sequence{boot: boot}
		}
	}
	if n == 0 {
		return r // unnumbered (a last will)
	}
	switch {
	case n > s.newest:
		if s.newest > 0 && n > s.newest+1 {
			r.gap = n - s.newest - 1
			s.missing += int64(r.gap)
		}
		// Forget the numbers the window slides past.
		for k := s.newest + 1; k <= n && k-s.newest <= window; k++ {
			i, b := s.bit(k)
			s.seen[i] &^= b
		}
		s.newest = n
		s.mark(n)
	case s.newest-n >= window:
		r.duplicate = true // too old to tell; treated as seen
	case s.has(n):
		r.duplicate = true
	default:
		r.late = true
		s.mark(n)
		if s.missing > 0 {
			s.missing--
		}
	}
	return r
}
