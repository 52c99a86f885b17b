package diagnosis

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestDecodeVIN(t *testing.T) {
	now := time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)
	cases := []struct {
		vin, maker, check, region string
		year                      int
		note                      string
	}{
		{"1HGCM82633A004352", "Honda", "valid", "North America", 2003, ""},
		{"1M8GDM9AXKP042788", "Motor Coach Industries", "valid", "North America", 1989, ""},
		{"1G1JC5444R7252367", "Chevrolet", "valid", "North America", 1994, ""},
		{"wvwzzz1jzxw000001", "Volkswagen", "not used", "Europe", 1999, "2029, which is still to come"},
		{"JHMCM56557C404453", "Honda", "valid", "Asia", 2007, "not 2037"},
		{"ZZZ000000A0000000", "", "valid", "Europe", 2010, "or 1980"},
	}
	for _, c := range cases {
		v, err := DecodeVIN(c.vin, now)
		if err != nil {
			t.Errorf("%s: %v", c.vin, err)
			continue
		}
		if v.Manufacturer != c.maker || v.CheckDigit != c.check || v.Region != c.region || v.ModelYear != c.year || !strings.Contains(v.YearNote, c.note) {
			t.Errorf("%s: %+v", c.vin, v)
		}
		if c.maker == "" && !strings.Contains(strings.Join(v.Notes, ";"), "not in Pitwall's table") {
			t.Errorf("%s: an unknown maker is not said: %v", c.vin, v.Notes)
		}
	}
}

func TestBadVINsAreReportedNotGuessed(t *testing.T) {
	now := time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)
	for vin, want := range map[string]string{
		"1HGCM82633A004353":  "check digit (position 9)", // one digit off
		"1HGCM82633A00435":   "16 characters",
		"1HGCM82633A0043521": "18 characters",
		"1HGCM8263OA004352":  "character 10 'O' is not allowed",
		"1HGCM82633U004352":  "", // U is no year code: fails the check digit first
		"WVWZZZ1JZUW000001":  "position 10 is 'U', which is no model-year code",
		"":                   "0 characters",
	} {
		_, err := DecodeVIN(vin, now)
		if !errors.Is(err, ErrBadVIN) || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", vin, err, want)
		}
	}
}
