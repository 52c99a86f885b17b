package wire

import (
	"fmt"
	"math"

	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/pitwall-io/pitwall/gateway/wire/wirepb"
	"github.com/pitwall-io/pitwall/obd"
)

// checkFinite refuses a message holding a NaN or an infinity in any of
// its floating-point fields, at any depth: a receiver would store it and
// fail later, far from the cause (JSON cannot encode it).
func checkFinite(m protoreflect.Message, k Kind) error {
	var bad error
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		switch {
		case fd.Kind() == protoreflect.DoubleKind || fd.Kind() == protoreflect.FloatKind:
			if fd.IsList() {
				l := v.List()
				for i := range l.Len() {
					if !finite(l.Get(i).Float()) {
						bad = fmt.Errorf("%w: %w: %s: %s[%d] is %v", ErrPayload, ErrNonFinite, k, fd.FullName(), i, l.Get(i).Float())
						return false
					}
				}
			} else if !finite(v.Float()) {
				bad = fmt.Errorf("%w: %w: %s: %s is %v", ErrPayload, ErrNonFinite, k, fd.FullName(), v.Float())
				return false
			}
		case fd.Kind() == protoreflect.MessageKind || fd.Kind() == protoreflect.GroupKind:
			switch {
			case fd.IsList():
				l := v.List()
				for i := range l.Len() {
					if bad = checkFinite(l.Get(i).Message(), k); bad != nil {
						return false
					}
				}
			case fd.IsMap():
				// The contract has no maps; a future one is checked
				// when it is added.
			default:
				bad = checkFinite(v.Message(), k)
			}
		}
		return bad == nil
	})
	return bad
}

func finite(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }

// MaxECULen bounds an ECU address: a 29-bit CAN identifier in hex is 8.
const MaxECULen = 8

// checkCodes refuses a trouble-code report whose codes are not written as
// SAE J2012 writes them (P0133: P, C, B or U, a digit 0 to 3, three
// upper-case hex digits) or whose ECU addresses are not hex: the codes
// reach alert text, email and the diagnosis as they are.
func checkCodes(r *wirepb.DTCReport) error {
	for _, list := range []struct {
		name  string
		codes []*wirepb.Code
	}{{"stored", r.GetStored()}, {"pending", r.GetPending()}, {"permanent", r.GetPermanent()}} {
		for i, c := range list.codes {
			if err := ValidCode(c.GetCode()); err != nil {
				return fmt.Errorf("%s[%d]: %w", list.name, i, err)
			}
			if err := validECU(c.GetEcu()); err != nil {
				return fmt.Errorf("%s[%d]: %w", list.name, i, err)
			}
		}
	}
	for i, f := range r.GetFreezeFrames() {
		if f.GetDtc() != "" {
			if err := ValidCode(f.GetDtc()); err != nil {
				return fmt.Errorf("freeze_frames[%d]: %w", i, err)
			}
		}
		if err := validECU(f.GetEcu()); err != nil {
			return fmt.Errorf("freeze_frames[%d]: %w", i, err)
		}
		for j, v := range f.GetValues() {
			if err := ValidSignalName(v.GetSignal()); err != nil {
				return fmt.Errorf("freeze_frames[%d].values[%d]: %w", i, j, err)
			}
		}
	}
	return nil
}

// ValidCode checks a trouble code as the wire carries it: exactly the
// five characters obd.DTC.String gives (P0133, U0100, C1234), nothing
// around them, upper case.
func ValidCode(s string) error {
	d, err := obd.ParseDTC(s)
	if err != nil || d.String() != s {
		return fmt.Errorf("%w: %w: %q: want P, C, B or U, a digit 0-3 and three upper-case hex digits, like P0133", ErrPayload, ErrCode, s)
	}
	return nil
}

// validECU checks an ECU address: empty (the link hid it) or up to eight
// hex digits.
func validECU(s string) error {
	if len(s) > MaxECULen {
		return fmt.Errorf("%w: %w: ECU %q: at most %d hex digits", ErrPayload, ErrCode, s, MaxECULen)
	}
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'A' && c <= 'F' || c >= 'a' && c <= 'f') {
			return fmt.Errorf("%w: %w: ECU %q: only hex digits", ErrPayload, ErrCode, s)
		}
	}
	return nil
}
