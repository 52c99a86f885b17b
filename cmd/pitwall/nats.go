package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/nats-io/nkeys"

	"github.com/pitwall-io/pitwall/gateway/broker"
)

func runNATS(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "config" {
		return usageError{"pitwall nats config [flags]"}
	}
	fs := newFlags("nats config", "--server-password-file F [--partitions N] [--issuer-seed-file F --auth-password-file F]",
		"Prints the accounts block a NATS cluster needs to carry Pitwall's cars (include it in each\n"+
			"node's configuration, see deploy/nats/): the PITWALL account with JetStream, the subject\n"+
			"mapping that puts each car's messages in one of --partitions partitions (the servers'\n"+
			"ingest.nats.partitions), the servers' user and, with --issuer-seed-file, the auth callout\n"+
			"through which Pitwall servers admit devices with their own id and secret. Passwords are read\n"+
			"from files and written as given: plain or bcrypt hashes (nats server passwd makes them).", stdout)
	partitions := fs.Int("partitions", 16, "partitions of the mapping (ingest.nats.partitions)")
	serverUser := fs.String("server-user", "pitwall", "the servers' user (ingest.broker.username)")
	serverPW := fs.String("server-password-file", "", "file holding the servers' password or its bcrypt hash")
	issuer := fs.String("issuer-seed-file", "", "the auth callout's account seed (nats_auth.issuer_seed_file); without it no callout")
	authUser := fs.String("auth-user", "pitwall-auth", "the callout's user (nats_auth.username)")
	authPW := fs.String("auth-password-file", "", "file holding the callout's password or its bcrypt hash")
	sysUser := fs.String("system-user", "", "an operator's user in the system account")
	sysPW := fs.String("system-password-file", "", "file holding the operator's password")
	if err := parse(fs, args[1:]); err != nil {
		return err
	}
	if *serverPW == "" {
		return usageError{"--server-password-file is required"}
	}
	if *partitions < 1 || *partitions > 1024 {
		return usageError{"--partitions: want 1 to 1024"}
	}
	read := func(flag, path string) (string, error) {
		if path == "" {
			return "", nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return "", fmt.Errorf("%s: %w", flag, err)
		}
		return strings.TrimSpace(string(b)), nil
	}
	a := broker.NATSAccounts{Partitions: *partitions, ServerUser: *serverUser, AuthUser: *authUser, SystemUser: *sysUser}
	var err error
	if a.ServerPassword, err = read("--server-password-file", *serverPW); err != nil {
		return err
	}
	if *issuer != "" {
		seed, err := broker.ReadSeed(*issuer)
		if err != nil {
			return fmt.Errorf("--issuer-seed-file: %w", err)
		}
		kp, err := nkeys.FromSeed([]byte(seed))
		if err != nil {
			return fmt.Errorf("--issuer-seed-file: %w", err)
		}
		if a.IssuerPublicKey, err = kp.PublicKey(); err != nil || !strings.HasPrefix(a.IssuerPublicKey, "A") {
			return fmt.Errorf("--issuer-seed-file: %w", broker.ErrIssuer)
		}
		if a.AuthPassword, err = read("--auth-password-file", *authPW); err != nil {
			return err
		}
	}
	if *sysUser != "" {
		if a.SystemPassword, err = read("--system-password-file", *sysPW); err != nil {
			return err
		}
	}
	text, err := a.Config()
	if err != nil {
		return err
	}
	_, err = io.WriteString(stdout, text)
	return err
}
