package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/pitwall-io/pitwall/booking"
	"github.com/pitwall-io/pitwall/configfile"
	"github.com/pitwall-io/pitwall/store"
)

// shopFile is a shop as an operator writes it.
type shopFile struct {
	ID            string          `yaml:"id"`
	Name          string          `yaml:"name"`
	Email         string          `yaml:"email"`
	WebhookURL    string          `yaml:"webhook_url"`
	WebhookSecret string          `yaml:"webhook_secret"`
	Address       string          `yaml:"address"`
	Lat           float64         `yaml:"lat"`
	Lon           float64         `yaml:"lon"`
	TimeZone      string          `yaml:"timezone"`
	Profile       booking.Profile `yaml:"profile"`
	shop          store.Shop
}

func (f *shopFile) Defaults() {}

// Validate checks the shop as the booking package will, naming each
// field so the loader can point at its line.
func (f *shopFile) Validate() error {
	sh, err := booking.NewShop(store.Shop{ID: f.ID, Name: f.Name, Email: f.Email, WebhookURL: f.WebhookURL, WebhookSecret: f.WebhookSecret,
		Address: f.Address, Lat: f.Lat, Lon: f.Lon, TimeZone: f.TimeZone}, f.Profile)
	if err != nil {
		msg := strings.TrimPrefix(err.Error(), booking.ErrInvalid.Error()+": ")
		field, rest, _ := strings.Cut(msg, ": ")
		switch field {
		case "name", "location", "email", "webhook_url", "webhook_secret", "timezone":
			if field == "location" {
				field = "lat"
			}
			return configfile.Bad(field, "%s", rest)
		}
		return configfile.Bad("profile."+field, "%s", rest)
	}
	f.shop = sh
	return nil
}

func runShops(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "add" {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
			fmt.Fprintln(stdout, `usage: pitwall shops add FILE.yaml [--db PATH]

Adds a repair shop from a YAML file: id, name, email, webhook_url, webhook_secret,
address, lat, lon, timezone and profile (systems, brands, labour_rate, currency,
jobs, packages, hours, capacity, response_minutes; docs/booking.md explains each).
Every problem is reported with the file and line.`)
			return flag.ErrHelp
		}
		return usageError{"name what to do: add"}
	}
	rest := args[1:]
	var file string
	if len(rest) > 0 && !strings.HasPrefix(rest[0], "-") {
		file, rest = rest[0], rest[1:]
	}
	fs := newFlags("shops add", "FILE.yaml [--db PATH]", "Adds a repair shop; see `pitwall shops --help`.", stdout)
	db := fs.String("db", defaultDB, "database file")
	if err := parse(fs, rest); err != nil {
		return err
	}
	if file == "" {
		return usageError{"shops add needs a YAML file"}
	}
	var f shopFile
	if err := configfile.Load(file, &f); err != nil {
		return err
	}
	st, err := openExisting(ctx, *db)
	if err != nil {
		return err
	}
	defer st.Close()
	sh, err := st.AddShop(ctx, f.shop)
	if errors.Is(err, store.ErrExists) {
		return fmt.Errorf("a shop with id %q exists already", f.ID)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "shop %s added: %s\n", sh.ID, sh.Name)
	return nil
}
