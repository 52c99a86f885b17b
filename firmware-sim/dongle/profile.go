// Package dongle emulates an ELM327 OBD adapter in front of the simulated
// car: the AT commands real clients send, with the datasheet's echo,
// prompt and line endings, the adapter's timing (every byte paced at the
// baud rate, ECU response times, the wait for more answers until the ST
// timeout unless the request says how many to expect, adaptive timing), and
// the behaviour of genuine chips and of clones. It serves a pseudo-terminal,
// like a USB adapter, or TCP, like a Wi-Fi one.
package dongle

import (
	"fmt"
	"sort"
	"strings"
)

// Profile is a kind of adapter.
type Profile struct {
	Name     string
	Identity string // what ATI and ATZ print
	// Baud is the rate of the adapter's serial side; output is paced at it
	// (on TCP too: a Wi-Fi dongle has a serial link inside).
	Baud int
	// CountDigit: the adapter honours a response-count digit after a
	// request (firmware 1.3 and later); without it, such a request is "?".
	CountDigit bool
	// Packed: several PIDs in one service 01 request reach the car; a
	// clone that cannot send more than two bytes answers NO DATA.
	Packed bool
	// Linefeeds is the power-up setting of ATL.
	Linefeeds bool
	// Ignored lists AT commands the adapter answers OK and then ignores.
	Ignored []string
	// SwitchBaud: ATBRD works (on a serial line).
	SwitchBaud  bool
	Description string
}

// Profiles are the adapters the emulator can play.
var Profiles = map[string]Profile{
	"genuine": {
		Name: "genuine", Identity: "ELM327 v2.1", Baud: 38400, CountDigit: true, Packed: true, SwitchBaud: true,
		Description: "a genuine ELM327 v2.1 at 38400 baud: count digit, packed PIDs and ATBRD work",
	},
	"clone-v1.5": {
		Name: "clone-v1.5", Identity: "ELM327 v1.5", Baud: 38400, Linefeeds: true,
		Ignored:     []string{"AT0", "AT1", "AT2", "ST", "BRD", "BRT", "CRA", "CAF", "D0", "D1"},
		Description: "a \"v1.5\" clone: no count digit, packed requests answered NO DATA, timing and some other AT commands answered OK and ignored, linefeeds on",
	},
	"slow": {
		Name: "slow", Identity: "ELM327 v1.4b", Baud: 9600, CountDigit: true, Packed: true, SwitchBaud: true,
		Description: "a genuine ELM327 v1.4b left at 9600 baud",
	},
}

// ProfileNames lists the profiles, sorted.
func ProfileNames() []string {
	var n []string
	for k := range Profiles {
		n = append(n, k)
	}
	sort.Strings(n)
	return n
}

// LookupProfile returns a profile by name.
func LookupProfile(name string) (Profile, error) {
	p, ok := Profiles[name]
	if !ok {
		return p, fmt.Errorf("dongle: no profile %q (profiles: %s)", name, strings.Join(ProfileNames(), ", "))
	}
	return p, nil
}

func (p Profile) ignores(cmd string) bool {
	for _, c := range p.Ignored {
		if strings.HasPrefix(cmd, c) {
			return true
		}
	}
	return false
}
