package diagnosis

import (
	"fmt"
	"strings"
	"time"

	"github.com/pitwall-io/pitwall/obd"
)

// VIN is what a vehicle identification number says.
type VIN struct {
	VIN string `json:"vin"`
	// CheckDigit is "valid", or "not used" for makers outside North
	// America that put another character in position 9. A North American
	// VIN with a wrong check digit is an error, not a VIN.
	CheckDigit   string `json:"check_digit"`
	WMI          string `json:"wmi"`
	Manufacturer string `json:"manufacturer,omitempty"` // empty when the WMI is not in Pitwall's table
	Region       string `json:"region"`                 // from the first character
	// ModelYear from position 10. The letter code repeats every 30 years:
	// North American VINs settle it with position 7 (a digit up to 2009,
	// a letter from 2010); elsewhere Pitwall takes the most recent year not
	// in the future and says so in YearNote.
	ModelYear int      `json:"model_year,omitempty"`
	YearNote  string   `json:"year_note,omitempty"`
	Plant     string   `json:"plant"`
	Serial    string   `json:"serial"`
	Notes     []string `json:"notes,omitempty"`
}

// yearCodes are the model-year characters of position 10 from 1980 (and
// again from 2010) on.
const yearCodes = "ABCDEFGHJKLMNPRSTVWXY123456789"

// DecodeVIN reads a VIN. It fails, naming the problem, on a wrong length,
// a character a VIN may not hold, a wrong check digit where the check
// digit is mandatory, or an impossible model-year character; it does not
// guess.
func DecodeVIN(s string, now time.Time) (VIN, error) {
	v := strings.ToUpper(strings.TrimSpace(s))
	chk := obd.CheckVIN(v)
	if !chk.Valid {
		return VIN{}, fmt.Errorf("%w %q: %s", ErrBadVIN, s, chk.Problem)
	}
	out := VIN{VIN: v, WMI: v[:3], Region: region(v[0], v[1]), Plant: v[10:11], Serial: v[11:]}
	northAmerica := out.Region == "North America"
	switch {
	case chk.CheckDigit:
		out.CheckDigit = "valid"
	case northAmerica:
		return VIN{}, fmt.Errorf("%w %q: the check digit (position 9) is %q but the other characters call for another; a character was probably misread", ErrBadVIN, s, v[8])
	default:
		out.CheckDigit = "not used"
		out.Notes = append(out.Notes, fmt.Sprintf("position 9 holds %q, not a check digit; makers outside North America need not use one", v[8]))
	}
	if m := wmis[out.WMI]; m != "" {
		out.Manufacturer = m
	} else {
		out.Notes = append(out.Notes, fmt.Sprintf("manufacturer code %s is not in Pitwall's table", out.WMI))
	}
	i := strings.IndexByte(yearCodes, v[9])
	if i < 0 {
		return VIN{}, fmt.Errorf("%w %q: position 10 is %q, which is no model-year code", ErrBadVIN, s, v[9])
	}
	early, late := 1980+i, 2010+i
	switch {
	case northAmerica && v[6] >= '0' && v[6] <= '9':
		out.ModelYear = early
	case northAmerica:
		out.ModelYear = late
	case late <= now.Year()+1:
		out.ModelYear = late
		out.YearNote = fmt.Sprintf("or %d: the year code repeats every 30 years, and outside North America the VIN does not say which; the later is assumed", early)
	default:
		out.ModelYear = early
		out.YearNote = fmt.Sprintf("not %d, which is still to come", late)
	}
	return out, nil
}

// region reads the first two characters: 1–5 and, since the United
// States took over the upper part of the 7 range, 7F–7Z are North
// American.
func region(c, c2 byte) string {
	switch {
	case c >= '1' && c <= '5', c == '7' && c2 >= 'F':
		return "North America"
	case c >= '6' && c <= '7':
		return "Oceania"
	case c >= '8' && c <= '9':
		return "South America"
	case c >= 'A' && c <= 'H':
		return "Africa"
	case c >= 'J' && c <= 'R':
		return "Asia"
	}
	return "Europe"
}

// wmis names the makers behind common world manufacturer identifiers.
var wmis = map[string]string{
	// North America
	"1FA": "Ford", "1FB": "Ford", "1FC": "Ford", "1FD": "Ford", "1FM": "Ford", "1FT": "Ford", "1FU": "Freightliner", "1FV": "Freightliner",
	"1G1": "Chevrolet", "1G4": "Buick", "1G6": "Cadillac", "1GC": "Chevrolet", "1GN": "Chevrolet", "1GT": "GMC", "1GK": "GMC", "1GY": "Cadillac", "1GB": "Chevrolet",
	"1C3": "Chrysler", "1C4": "Chrysler (Jeep, Dodge)", "1C6": "Ram", "1D7": "Dodge", "1B3": "Dodge", "1J4": "Jeep", "1J8": "Jeep",
	"1HG": "Honda", "1HD": "Harley-Davidson", "1N4": "Nissan", "1N6": "Nissan", "1VW": "Volkswagen", "1YV": "Mazda", "1ZV": "Ford",
	"1L1": "Lincoln", "1LN": "Lincoln", "1ME": "Mercury", "1M8": "Motor Coach Industries", "1XK": "Kenworth", "1XP": "Peterbilt",
	"2C3": "Chrysler", "2C4": "Chrysler", "2FA": "Ford", "2FM": "Ford", "2FT": "Ford", "2G1": "Chevrolet", "2GN": "Chevrolet", "2HG": "Honda", "2HK": "Honda", "2HJ": "Honda",
	"2T1": "Toyota", "2T2": "Lexus", "2T3": "Toyota", "2HM": "Hyundai",
	"3FA": "Ford", "3FM": "Ford", "3G1": "Chevrolet", "3GN": "Chevrolet", "3GC": "Chevrolet", "3N1": "Nissan", "3N6": "Nissan", "3VW": "Volkswagen", "3HG": "Honda",
	"3MZ": "Mazda", "3KP": "Kia", "3TM": "Toyota", "3C4": "Chrysler", "3C6": "Ram",
	"4T1": "Toyota", "4T3": "Toyota", "4T4": "Toyota", "4S3": "Subaru", "4S4": "Subaru", "4JG": "Mercedes-Benz", "4US": "BMW", "4A3": "Mitsubishi", "4F2": "Mazda",
	"5YJ": "Tesla", "7SA": "Tesla", "5XY": "Kia", "5XX": "Kia", "5NP": "Hyundai", "5NM": "Hyundai", "5FN": "Honda", "5J6": "Honda", "5J8": "Acura", "5UX": "BMW", "5UJ": "BMW",
	"5TD": "Toyota", "5TF": "Toyota", "5N1": "Nissan", "5LM": "Lincoln", "55S": "Mercedes-Benz", "7FA": "Honda", "7MM": "Mazda",
	// Asia
	"JHM": "Honda", "JHL": "Honda", "JH4": "Acura", "JN1": "Nissan", "JN8": "Nissan", "JNK": "Infiniti", "JNR": "Infiniti",
	"JT2": "Toyota", "JT3": "Toyota", "JTD": "Toyota", "JTE": "Toyota", "JTM": "Toyota", "JTN": "Toyota", "JTH": "Lexus", "JTJ": "Lexus",
	"JF1": "Subaru", "JF2": "Subaru", "JM1": "Mazda", "JM3": "Mazda", "JMZ": "Mazda", "JA3": "Mitsubishi", "JA4": "Mitsubishi", "JMB": "Mitsubishi",
	"JS2": "Suzuki", "JS3": "Suzuki", "JSA": "Suzuki", "KMH": "Hyundai", "KM8": "Hyundai", "KNA": "Kia", "KND": "Kia", "KNM": "Renault Samsung",
	"KL1": "Chevrolet (GM Korea)", "KPT": "SsangYong", "LFV": "FAW-Volkswagen", "LSV": "SAIC Volkswagen", "LVS": "Changan Ford", "LRW": "Tesla",
	"LBV": "BMW Brilliance", "LE4": "Beijing Benz", "MA3": "Maruti Suzuki", "MAL": "Hyundai", "MR0": "Toyota", "MNT": "Nissan", "MMB": "Mitsubishi",
	"NMT": "Toyota", "NM0": "Ford",
	// Europe
	"SAJ": "Jaguar", "SAL": "Land Rover", "SAR": "Rover", "SCC": "Lotus", "SCF": "Aston Martin", "SCA": "Rolls-Royce", "SCB": "Bentley",
	"SHH": "Honda", "SHS": "Honda", "SJN": "Nissan", "SB1": "Toyota", "TMB": "Škoda", "TMA": "Hyundai", "TRU": "Audi", "TSM": "Suzuki",
	"UU1": "Dacia", "U5Y": "Kia", "VF1": "Renault", "VF3": "Peugeot", "VF7": "Citroën", "VR3": "Peugeot", "VR7": "Citroën", "VSS": "SEAT", "VWV": "Volkswagen",
	"VNK": "Toyota", "VSK": "Nissan", "WAU": "Audi", "WA1": "Audi", "WUA": "Audi", "WBA": "BMW", "WBS": "BMW M", "WBX": "BMW", "WBY": "BMW",
	"WDB": "Mercedes-Benz", "WDC": "Mercedes-Benz", "WDD": "Mercedes-Benz", "WDF": "Mercedes-Benz", "W1K": "Mercedes-Benz", "W1N": "Mercedes-Benz", "W1V": "Mercedes-Benz",
	"WF0": "Ford", "WMW": "MINI", "WP0": "Porsche", "WP1": "Porsche", "WVW": "Volkswagen", "WVG": "Volkswagen", "WV1": "Volkswagen", "WV2": "Volkswagen",
	"W0L": "Opel", "W0V": "Opel", "WME": "smart", "YV1": "Volvo", "YV4": "Volvo", "YS3": "Saab", "ZFA": "Fiat", "ZAR": "Alfa Romeo", "ZFF": "Ferrari",
	"ZHW": "Lamborghini", "ZAM": "Maserati", "ZCF": "Iveco", "ZDM": "Ducati",
	// Oceania and South America
	"6FP": "Ford", "6G1": "Holden", "6T1": "Toyota", "9BW": "Volkswagen", "9BG": "Chevrolet", "9BD": "Fiat", "93H": "Honda",
}
