package booking

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Cents is an amount in hundredths of its currency's unit. Lines, tax
// and totals are kept in it, so that they always add up.
type Cents int64

// String is the amount with two decimals: "210.00", "-5.50".
func (c Cents) String() string {
	sign := ""
	if c < 0 {
		sign, c = "-", -c
	}
	return fmt.Sprintf("%s%d.%02d", sign, c/100, c%100)
}

// Units is the amount in the currency's unit, for JSON and old fields.
func (c Cents) Units() float64 { return float64(c) / 100 }

// hundredths reads a decimal number given in units as hundredths,
// rounding half away from zero on its decimal digits (45.285 is 4529):
// the number as the person wrote it, not its nearest binary fraction.
// Not a number, or beyond ±1e12, is false.
func hundredths(x float64) (int64, bool) {
	if math.IsNaN(x) || math.IsInf(x, 0) || math.Abs(x) > 1e12 {
		return 0, false
	}
	s := strconv.FormatFloat(math.Abs(x), 'f', -1, 64)
	whole, frac, _ := strings.Cut(s, ".")
	frac += "000"
	w, err := strconv.ParseInt(whole, 10, 64)
	if err != nil {
		return 0, false
	}
	f, _ := strconv.ParseInt(frac[:2], 10, 64)
	v := w*100 + f
	if frac[2] >= '5' {
		v++
	}
	if x < 0 {
		v = -v
	}
	return v, true
}

// times is qty (hundredths) × unit (cents), rounded half away from zero
// to the cent.
func times(qty int64, unit Cents) Cents {
	p := qty * int64(unit)
	if p < 0 {
		return Cents(-((-p + 50) / 100))
	}
	return Cents((p + 50) / 100)
}

// taxOn is the tax on a subtotal at bp basis points, rounded half away
// from zero to the cent: one rounding for the whole bill.
func taxOn(sub Cents, bp int) Cents {
	p := int64(sub) * int64(bp)
	if p < 0 {
		return Cents(-((-p + 5000) / 10000))
	}
	return Cents((p + 5000) / 10000)
}
