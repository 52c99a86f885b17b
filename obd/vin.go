package obd

import (
	"fmt"
	"strings"
)

// VINCheck is the verdict on a VIN's form.
type VINCheck struct {
	// Valid: 17 characters from the VIN alphabet (no I, O or Q).
	Valid bool `json:"valid"`
	// CheckDigit: position 9 matches the weighted sum. North American VINs
	// must pass; elsewhere the position may hold any character.
	CheckDigit bool   `json:"check_digit"`
	Problem    string `json:"problem,omitempty"`
}

var vinWeights = [17]int{8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2}

// vinValue transliterates a VIN character for the check digit.
func vinValue(c byte) (int, bool) {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0'), true
	case c == 'I' || c == 'O' || c == 'Q':
		return 0, false
	case c >= 'A' && c <= 'H':
		return int(c-'A') + 1, true
	case c >= 'J' && c <= 'N':
		return int(c-'J') + 1, true
	case c == 'P':
		return 7, true
	case c == 'R':
		return 9, true
	case c >= 'S' && c <= 'Z':
		return int(c-'S') + 2, true
	}
	return 0, false
}

// CheckVIN tests a VIN's form and check digit.
func CheckVIN(vin string) VINCheck {
	if len(vin) != 17 {
		return VINCheck{Problem: fmt.Sprintf("%d characters, a VIN has 17", len(vin))}
	}
	sum := 0
	for i := 0; i < 17; i++ {
		c := vin[i]
		v, ok := vinValue(c)
		if !ok {
			return VINCheck{Problem: fmt.Sprintf("character %d %q is not allowed in a VIN", i+1, c)}
		}
		sum += v * vinWeights[i]
	}
	want := byte('0' + sum%11)
	if sum%11 == 10 {
		want = 'X'
	}
	chk := VINCheck{Valid: true, CheckDigit: vin[8] == want}
	if !chk.CheckDigit {
		chk.Problem = fmt.Sprintf("check digit is %q, the weighted sum gives %q (required in North America only)", vin[8], want)
	}
	return chk
}

// NormalizeVIN upper-cases a VIN and removes spaces.
func NormalizeVIN(s string) string { return strings.ToUpper(strings.ReplaceAll(s, " ", "")) }
