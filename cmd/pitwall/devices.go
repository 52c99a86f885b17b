package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/pitwall-io/pitwall/gateway/broker"
	"github.com/pitwall-io/pitwall/gateway/wire"
	"github.com/pitwall-io/pitwall/store"
)

const defaultDB = "/var/lib/pitwall/pitwall.db"

func runDevices(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	const usage = "usage: pitwall devices add|list|revoke|rotate|export|hash [flags]"
	if len(args) == 0 {
		return usageError{"name what to do: add, list, revoke, rotate, export or hash"}
	}
	if args[0] == "-h" || args[0] == "--help" {
		fmt.Fprintln(stdout, usage)
		fmt.Fprintln(stdout, `
  add ID [--vehicle VEHICLE_ID]   register a device and print its new secret (shown once)
  list [--json]                   every device, its vehicle, and what the ingest last heard
  revoke ID                       stop a device from logging in; its data stays
  rotate ID                       give a device a new secret (and let a revoked one back in)
  export --dir DIR                write DIR/passwd and DIR/acl for a Mosquitto broker
  hash                            read a secret on stdin, print its hash (for server users)

Each takes --db PATH (default `+defaultDB+`).`)
		return flag.ErrHelp
	}
	sub, rest := args[0], args[1:]
	var id string
	if (sub == "add" || sub == "revoke" || sub == "rotate") && len(rest) > 0 && !strings.HasPrefix(rest[0], "-") {
		id, rest = rest[0], rest[1:]
	}
	fs := newFlags("devices "+sub, "[flags]", "Manages device credentials; see `pitwall devices --help`.", stdout)
	db := fs.String("db", defaultDB, "database file")
	vehicle := fs.String("vehicle", "", "add: the vehicle the device is fitted to")
	asJSON := fs.Bool("json", false, "list: print JSON")
	dir := fs.String("dir", "", "export: the directory for passwd and acl")
	serverUser := fs.String("server-user", "pitwall-server", "export: the server's user name")
	serverSecretFile := fs.String("server-secret-file", "", "export: a file holding the server's secret (required)")
	if err := parse(fs, rest); err != nil {
		return err
	}
	if sub == "hash" {
		secret, err := bufio.NewReader(os.Stdin).ReadString('\n')
		secret = strings.TrimRight(secret, "\r\n")
		if secret == "" {
			return fmt.Errorf("no secret on standard input: %v", err)
		}
		fmt.Fprintln(stdout, store.HashSecret(secret))
		return nil
	}
	if sub == "add" || sub == "revoke" || sub == "rotate" {
		if id == "" {
			return usageError{fmt.Sprintf("devices %s needs a device id", sub)}
		}
		if err := wire.ValidDeviceID(id); err != nil {
			return usageError{err.Error()}
		}
	}
	if e, _ := store.Engine(*db); sub != "add" && e == store.SQLite {
		if _, err := os.Stat(*db); err != nil {
			return fmt.Errorf("database %s: %w (give --db)", *db, err)
		}
	}
	st, err := store.Open(ctx, *db)
	if err != nil {
		return err
	}
	defer st.Close()
	switch sub {
	case "add":
		_, secret, err := st.AddDevice(ctx, id, *vehicle)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "device %s added; its secret (shown only now):\n\n  %s\n\nIn the agent's configuration:\n  device_id: %s\n  broker:\n    password: %s\n", id, secret, id, secret)
		return nil
	case "revoke":
		if err := st.RevokeDevice(ctx, id); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "device %s revoked; export again to update a Mosquitto broker\n", id)
		return nil
	case "rotate":
		secret, err := st.RotateSecret(ctx, id)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "device %s has a new secret (shown only now):\n\n  %s\n", id, secret)
		return nil
	case "list":
		return listDevices(ctx, st, *asJSON, stdout)
	case "export":
		if *dir == "" || *serverSecretFile == "" {
			return usageError{"export needs --dir and --server-secret-file"}
		}
		b, err := os.ReadFile(*serverSecretFile)
		if err != nil {
			return err
		}
		secret := strings.TrimSpace(string(b))
		if len(secret) < 16 {
			return fmt.Errorf("%s: the server's secret is %d characters; use at least 16", *serverSecretFile, len(secret))
		}
		devs, err := st.Devices(ctx)
		if err != nil {
			return err
		}
		var logins []broker.Login
		for _, d := range devs {
			if d.Active() {
				logins = append(logins, broker.Login{User: d.ID, Hash: d.SecretHash})
			}
		}
		if err := broker.ExportMosquitto(*dir, logins, []broker.Login{{User: *serverUser, Hash: store.HashSecret(secret)}}); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "wrote %s/passwd and %s/acl: %d devices and the server user %s; reload Mosquitto (SIGHUP) to apply\n", *dir, *dir, len(logins), *serverUser)
		return nil
	}
	return usageError{fmt.Sprintf("unknown devices command %q", sub)}
}

type deviceRow struct {
	ID      string    `json:"id"`
	Vehicle string    `json:"vehicle,omitempty"`
	Created time.Time `json:"created"`
	Revoked bool      `json:"revoked"`
	Online  bool      `json:"online"`
	Seen    time.Time `json:"seen,omitzero"`
	LastSeq uint64    `json:"last_seq,omitempty"`
	VIN     string    `json:"vin,omitempty"`
}

func listDevices(ctx context.Context, st *store.Store, asJSON bool, stdout io.Writer) error {
	devs, err := st.Devices(ctx)
	if err != nil {
		return err
	}
	rows := []deviceRow{}
	for _, d := range devs {
		r := deviceRow{ID: d.ID, Vehicle: d.VehicleID, Created: d.Created, Revoked: !d.Active()}
		if s, err := st.Status(ctx, d.ID); err == nil {
			r.Online, r.Seen, r.LastSeq, r.VIN = s.Online, s.Seen, s.LastSeq, s.VIN
		} else if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		rows = append(rows, r)
	}
	if asJSON {
		return json.NewEncoder(stdout).Encode(rows)
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "DEVICE\tVEHICLE\tSTATE\tLAST HEARD\tLAST SEQ\tVIN")
	for _, r := range rows {
		state := "never heard"
		switch {
		case r.Revoked:
			state = "revoked"
		case r.Online:
			state = "online"
		case !r.Seen.IsZero():
			state = "offline"
		}
		seen := "-"
		if !r.Seen.IsZero() {
			seen = r.Seen.Local().Format("2006-01-02 15:04:05")
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\n", r.ID, dash(r.Vehicle), state, seen, r.LastSeq, dash(r.VIN))
	}
	return tw.Flush()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
