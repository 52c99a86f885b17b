package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/pitwall-io/pitwall/diagnosis"
)

func runExplain(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("explain", "CODE|VIN... [--json] [--currency EUR --per-usd 0.92 --labour 90-140]",
		"Explain trouble codes: meaning, system, severity, whether the car is safe to drive,\n"+
			"likely causes and repairs with a fair price range. A 17-character argument is\n"+
			"decoded as a VIN (check digit, maker, model year). Prices are typical estimates.", stdout)
	asJSON := fs.Bool("json", false, "print JSON")
	currency := fs.String("currency", "USD", "price in this currency (ISO 4217)")
	perUSD := fs.Float64("per-usd", 1, "units of --currency per US dollar")
	labour := fs.String("labour", "100-160", "a shop's hourly labour rate in --currency, low-high")
	// Flags may follow the codes: parse around each argument.
	var items []string
	rest := args
	for {
		if err := parseSome(fs, rest); err != nil {
			return err
		}
		if fs.NArg() == 0 {
			break
		}
		items, rest = append(items, fs.Arg(0)), fs.Args()[1:]
	}
	if len(items) == 0 {
		return usageError{"name at least one trouble code (like P0420) or VIN"}
	}
	if strings.ToUpper(*currency) != "USD" && *perUSD == 1 {
		return usageError{fmt.Sprintf("--currency %s needs --per-usd, the exchange rate from US dollars", *currency)}
	}
	lo, hi, ok := strings.Cut(*labour, "-")
	p := diagnosis.Pricing{Currency: strings.ToUpper(*currency), PerBase: *perUSD}
	var err1, err2 error
	p.LabourRate[0], err1 = strconv.ParseFloat(lo, 64)
	p.LabourRate[1], err2 = strconv.ParseFloat(hi, 64)
	if !ok || err1 != nil || err2 != nil {
		return usageError{fmt.Sprintf("--labour %q: want low-high, like 90-140", *labour)}
	}
	if err := p.Check(); err != nil {
		return usageError{err.Error()}
	}
	kb, err := diagnosis.Builtin()
	if err != nil {
		return err
	}
	var out []any
	for _, it := range items {
		var v any
		var text string
		if len(strings.TrimSpace(it)) == 17 {
			vin, err := diagnosis.DecodeVIN(it, time.Now())
			if err != nil {
				return err
			}
			v, text = vin, vinText(vin)
		} else {
			x, err := kb.Explain(it, p)
			if err != nil {
				return fmt.Errorf("%w (a code is 5 characters like P0420; a VIN is 17)", err)
			}
			v, text = x, x.Text()
		}
		if *asJSON {
			out = append(out, v)
		} else {
			fmt.Fprintln(stdout, text)
		}
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if len(out) == 1 {
			return enc.Encode(out[0])
		}
		return enc.Encode(out)
	}
	return nil
}

// parseSome parses flags up to the first argument that is not one.
func parseSome(fs *flag.FlagSet, args []string) error {
	fs.SetOutput(io.Discard)
	usage := fs.Usage
	fs.Usage = func() {}
	err := fs.Parse(args)
	fs.Usage = usage
	if err == flag.ErrHelp {
		usage()
		return err
	}
	if err != nil {
		return usageError{err.Error()}
	}
	return nil
}

func vinText(v diagnosis.VIN) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n  maker:       %s\n", v.VIN, orText(v.Manufacturer, "not in Pitwall's table (WMI "+v.WMI+")"))
	fmt.Fprintf(&b, "  region:      %s\n  model year:  %d", v.Region, v.ModelYear)
	if v.YearNote != "" {
		fmt.Fprintf(&b, " (%s)", v.YearNote)
	}
	fmt.Fprintf(&b, "\n  check digit: %s\n  plant %s, serial %s\n", v.CheckDigit, v.Plant, v.Serial)
	for _, n := range v.Notes {
		fmt.Fprintf(&b, "  note: %s\n", n)
	}
	return b.String()
}

func orText(s, alt string) string {
	if s == "" {
		return alt
	}
	return s
}
