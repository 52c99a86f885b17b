package diagnosis

import (
	"fmt"
	"strings"
)

// NormalizeCode checks a trouble code's form (a letter P, C, B or U, a
// digit 0–3, three hex digits) and returns it upper-cased.
func NormalizeCode(s string) (string, error) {
	c := strings.ToUpper(strings.TrimSpace(s))
	switch {
	case len(c) != 5:
		return "", fmt.Errorf("%w: %q has %d characters, a code has 5 (like P0301)", ErrBadCode, s, len(c))
	case !strings.ContainsRune("PCBU", rune(c[0])):
		return "", fmt.Errorf("%w: %q: the first character must be P, C, B or U", ErrBadCode, s)
	case c[1] < '0' || c[1] > '3':
		return "", fmt.Errorf("%w: %q: the second character must be 0, 1, 2 or 3", ErrBadCode, s)
	}
	for i := 2; i < 5; i++ {
		if !strings.ContainsRune("0123456789ABCDEF", rune(c[i])) {
			return "", fmt.Errorf("%w: %q: character %d must be a hex digit", ErrBadCode, s, i+1)
		}
	}
	return c, nil
}

// Structure is what a code's characters say by themselves.
type Structure struct {
	System    string `json:"system"`              // powertrain, chassis, body, network
	Generic   bool   `json:"generic"`             // defined by SAE J2012 for every make, rather than by the maker
	Subsystem string `json:"subsystem,omitempty"` // the area the number range belongs to, where the standard assigns one
}

// Parse reads a normalized code's structure.
func structure(c string) Structure {
	var s Structure
	s.System = map[byte]string{'P': "powertrain", 'C': "chassis", 'B': "body", 'U': "network"}[c[0]]
	switch c[0] {
	case 'P':
		s.Generic = c[1] == '0' || c[1] == '2' || c[1] == '3' && c[2] >= '4'
		s.Subsystem = powertrainArea(c)
	default:
		s.Generic = c[1] == '0' || c[1] == '3'
		if c[0] == 'U' {
			s.Subsystem = map[byte]string{'0': "network wiring and buses", '1': "lost communication with a module",
				'2': "lost communication with a module", '3': "module software and configuration",
				'4': "invalid data from a module", '5': "invalid data from a module"}[c[2]]
		}
		if c[0] == 'B' && c[1] == '0' && (c[2] == '0' || c[2] == '1') {
			s.Subsystem = "airbags, belt pretensioners and occupant sensing"
		}
	}
	return s
}

func powertrainArea(c string) string {
	if c[1] == '3' {
		if c[2] == '4' {
			return "cylinder deactivation"
		}
		if c[2] < '4' {
			return "" // the maker's range
		}
	}
	switch c[2] {
	case '0':
		return "fuel and air metering, and auxiliary emission controls"
	case '1', '2':
		return "fuel and air metering"
	case '3':
		return "ignition system and misfire"
	case '4':
		return "auxiliary emission controls"
	case '5':
		return "vehicle speed, idle control and auxiliary inputs"
	case '6':
		return "control modules and auxiliary outputs"
	case '7', '8', '9':
		return "transmission"
	case 'A', 'B', 'C':
		return "hybrid propulsion"
	}
	return ""
}

// describe is the honest explanation of a code from its structure alone.
func (s Structure) describe(code string) string {
	who := "an SAE-defined"
	if !s.Generic {
		who = "a maker-specific"
	}
	area := ""
	if s.Subsystem != "" {
		area = " in the range for " + s.Subsystem
	}
	return fmt.Sprintf("%s is %s %s code%s. Pitwall has no entry for it, so this is only what its number says; the maker's service information gives the exact meaning.", code, who, s.System, area)
}
