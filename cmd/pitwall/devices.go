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
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/pitwall-io/pitwall/firmware-sim/fleet"
	"github.com/pitwall-io/pitwall/gateway/broker"
	"github.com/pitwall-io/pitwall/gateway/wire"
	"github.com/pitwall-io/pitwall/internal/atomicfile"
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
  add ID [--vehicle VEHICLE_ID] [--out DIR]
                                  register a device and print its new secret and command key
                                  (shown once), or write them to DIR/secret and DIR/command.key
  add --count N --out FILE [--prefix P]
                                  register N devices P-00001 ... and write their ids and
                                  secrets to FILE (mode 0600), for pitwall sim fleet --credentials
  list [--json]                   every device, its vehicle, and what the ingest last heard
  revoke ID                       stop a device from logging in; a server running on this
                                  database cuts its session within embedded_broker.revocation_check
  rotate ID [--out DIR]           give a device a new secret and command key (and let a revoked
                                  one back in)
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
	out := fs.String("out", "", "add, rotate: write the secret and the command key to files in this directory (mode 0600) instead of printing them;\nadd --count: the credentials file to write")
	dir := fs.String("dir", "", "export: the directory for passwd and acl")
	serverUser := fs.String("server-user", "pitwall-server", "export: the server's user name")
	serverSecretFile := fs.String("server-secret-file", "", "export: a file holding the server's secret (required)")
	count := fs.Int("count", 0, "add: register this many devices")
	prefix := fs.String("prefix", "sim", "add --count: device ids are PREFIX-00001, ...")
	if err := parse(fs, rest); err != nil {
		return err
	}
	if sub == "add" && *count != 0 {
		if id != "" || *out == "" || *count < 1 || *count > 100000 {
			return usageError{"devices add --count N (1..100000) --out FILE, without an id"}
		}
		return addDevices(ctx, *db, *prefix, *count, *out, stdout)
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
	st, err := openExisting(ctx, *db)
	if err != nil {
		return err
	}
	defer st.Close()
	switch sub {
	case "add":
		if *out != "" {
			if err := credentialsDir(*out); err != nil {
				return err
			}
		}
		d, secret, err := st.AddDevice(ctx, id, *vehicle)
		if err != nil {
			return err
		}
		return handOut(stdout, "device "+id+" added", id, secret, d.CommandKey, *out)
	case "revoke":
		if err := st.RevokeDevice(ctx, id); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "device %s revoked. A pitwall server with its embedded broker on this database refuses its messages and\n"+
			"cuts its session within embedded_broker.revocation_check (5s by default); export again to update a Mosquitto broker\n", id)
		return nil
	case "rotate":
		if *out != "" {
			if err := credentialsDir(*out); err != nil {
				return err
			}
		}
		secret, key, err := st.RotateCredentials(ctx, id)
		if err != nil {
			return err
		}
		return handOut(stdout, "device "+id+" has new credentials", id, secret, key, *out)
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

// credentialsDir checks, before anything is stored, that the credentials
// can be written there.
func credentialsDir(dir string) error {
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return fmt.Errorf("--out %s: not a directory", dir)
	}
	return nil
}

// handOut gives a device's secret and command key to the operator, once:
// printed, or written to two files only the owner can read.
func handOut(stdout io.Writer, what, id, secret string, key []byte, dir string) error {
	secretFile, keyFile := "/etc/pitwall/secret", "/etc/pitwall/command.key"
	if dir != "" {
		secretFile, keyFile = filepath.Join(dir, "secret"), filepath.Join(dir, "command.key")
		for f, v := range map[string]string{secretFile: secret, keyFile: wire.FormatCommandKey(key)} {
			if err := atomicfile.Write(f, []byte(v+"\n"), 0o600); err != nil {
				return fmt.Errorf("%s, but its credentials could not be written (rotate it to try again): %w", what, err)
			}
		}
		fmt.Fprintf(stdout, "%s; its secret is in %s and its command key in %s (mode 0600).\nCopy both to the device.", what, secretFile, keyFile)
	} else {
		fmt.Fprintf(stdout, "%s. Its credentials, shown only now:\n\n  secret:      %s\n  command key: %s\n\n"+
			"Put each in a file only the agent's user can read (mode 0600) on the device.", what, secret, wire.FormatCommandKey(key))
	}
	fmt.Fprintf(stdout, " In the agent's configuration:\n  device_id: %s\n  broker:\n    password_file: %s\n  commands:\n    key_file: %s\n", id, secretFile, keyFile)
	return nil
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

// addDevices registers count devices and writes their credentials to a
// private file, written whole or not at all.
func addDevices(ctx context.Context, db, prefix string, count int, out string, stdout io.Writer) error {
	if err := wire.ValidDeviceID(prefix + "-00001"); err != nil {
		return usageError{fmt.Sprintf("--prefix %q: %v", prefix, err)}
	}
	st, err := openExisting(ctx, db)
	if err != nil {
		return err
	}
	defer st.Close()
	creds := make([]fleet.Credential, 0, count)
	for i := 1; i <= count; i++ {
		id := fmt.Sprintf("%s-%05d", prefix, i)
		_, secret, err := st.AddDevice(ctx, id, "")
		if err != nil {
			return fmt.Errorf("after %d devices: %w", i-1, err)
		}
		creds = append(creds, fleet.Credential{DeviceID: id, Secret: secret})
	}
	if err := fleet.WriteCredentials(out, creds); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%d devices added, %s-00001 to %s-%05d; their secrets are in %s (mode 0600)\n", count, prefix, prefix, count, out)
	return nil
}
