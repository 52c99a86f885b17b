package diagnosis

import "fmt"

// Severity is how soon a fault needs attention.
type Severity int

// The severities, least urgent first.
const (
	Info        Severity = iota + 1 // nothing needs doing
	Advisory                        // at the next service
	Soon                            // within weeks
	Urgent                          // within days, gently, only to a shop
	StopDriving                     // stop now
)

var severityNames = [...]string{Info: "info", Advisory: "advisory", Soon: "soon", Urgent: "urgent", StopDriving: "stop-driving"}

func (s Severity) String() string {
	if s >= Info && s <= StopDriving {
		return severityNames[s]
	}
	return fmt.Sprintf("severity(%d)", int(s))
}

// ParseSeverity reads a severity's name.
func ParseSeverity(name string) (Severity, error) {
	for i, n := range severityNames {
		if n != "" && n == name {
			return Severity(i), nil
		}
	}
	return 0, fmt.Errorf("severity %q: want info, advisory, soon, urgent or stop-driving", name)
}

// MarshalText writes the severity's name.
func (s Severity) MarshalText() ([]byte, error) {
	if s < Info || s > StopDriving {
		return nil, fmt.Errorf("no severity %d", int(s))
	}
	return []byte(s.String()), nil
}

// UnmarshalText reads a severity's name.
func (s *Severity) UnmarshalText(b []byte) error {
	v, err := ParseSeverity(string(b))
	*s = v
	return err
}

// SafeToDrive answers the owner's first question in three words: "yes",
// "with care" (gently, and only as far as a shop) or "no".
func (s Severity) SafeToDrive() string {
	switch {
	case s >= StopDriving:
		return "no"
	case s == Urgent:
		return "with care"
	}
	return "yes"
}

// Advice is what the severity asks of the owner, in a sentence.
func (s Severity) Advice() string {
	switch s {
	case Info:
		return "Nothing needs doing now."
	case Advisory:
		return "Have it looked at during the next service."
	case Soon:
		return "Book a repair within the next few weeks."
	case Urgent:
		return "Book a repair within days; drive gently and only as far as needed."
	case StopDriving:
		return "Stop as soon as it is safe and do not drive on; arrange a tow."
	}
	return ""
}
