package broker

import (
	"fmt"
	"strings"

	"github.com/pitwall-io/pitwall/gateway/wire"
)

// NATSAccounts is what a NATS cluster needs to carry Pitwall's cars: the
// accounts, their users and rights, the partition mapping and the auth
// callout that admits devices.
type NATSAccounts struct {
	// Partitions is the mapping's partition count (ingest.nats.partitions).
	Partitions int
	// IssuerPublicKey is the account public key (A…) whose seed the
	// servers sign devices' logins with (nats_auth.issuer_seed_file);
	// empty for no callout (then devices cannot log in).
	IssuerPublicKey string
	// ServerUser and ServerPassword log Pitwall servers in (the ingest);
	// AuthUser and AuthPassword the servers' auth callout. Passwords are
	// written as given: plain, or a bcrypt hash ($2a$…), which NATS takes
	// too.
	ServerUser, ServerPassword string
	AuthUser, AuthPassword     string
	// SystemUser and SystemPassword, when set, log an operator into the
	// system account (for nats server report and the like).
	SystemUser, SystemPassword string
}

// Config is the NATS configuration text: one PITWALL account with
// JetStream (devices and servers), one AUTH account (the callout), the
// system account, and the auth callout.
func (a NATSAccounts) Config() (string, error) {
	if a.Partitions < 1 || a.ServerUser == "" || a.ServerPassword == "" {
		return "", fmt.Errorf("broker: NATS accounts need the partition count and the server's user and password")
	}
	if a.IssuerPublicKey != "" && (a.AuthUser == "" || a.AuthPassword == "") {
		return "", fmt.Errorf("broker: an auth callout needs its user and password")
	}
	q := func(s string) string { return fmt.Sprintf("%q", s) }
	var b strings.Builder
	b.WriteString("# Pitwall's accounts (pitwall nats config): cars publish over MQTT into PITWALL, whose mapping\n")
	b.WriteString("# puts each car's messages in one partition; servers consume the partitions.\n")
	b.WriteString("accounts {\n  PITWALL {\n    jetstream: enabled\n")
	fmt.Fprintf(&b, "    users: [\n      {user: %s, password: %s, permissions: {\n", q(a.ServerUser), q(a.ServerPassword))
	// The ingest: the JetStream API, acknowledgements of its consumers,
	// commands to cars, and the probe that checks the mapping.
	fmt.Fprintf(&b, "        publish: [%s, %s, %s, %s]\n", q("$JS.API.>"), q("$JS.ACK.$MQTT_msgs.>"),
		q(wire.NATSSubject(wire.Prefix)+"*."+string(wire.KindCommand)), q(wire.NATSSubject(wire.Prefix)+"*."+string(wire.KindTelemetry)))
	fmt.Fprintf(&b, "        subscribe: [%s, %s]\n      }}\n    ]\n", q("_INBOX.>"), q(wire.NATSPartPrefix+">"))
	for _, line := range strings.Split(strings.TrimSpace(wire.NATSMappingsConfig(a.Partitions)), "\n") {
		b.WriteString("    " + line + "\n")
	}
	b.WriteString("  }\n")
	if a.IssuerPublicKey != "" {
		fmt.Fprintf(&b, "  AUTH {\n    users: [{user: %s, password: %s}]\n  }\n", q(a.AuthUser), q(a.AuthPassword))
	}
	b.WriteString("  SYS {\n")
	if a.SystemUser != "" {
		fmt.Fprintf(&b, "    users: [{user: %s, password: %s}]\n", q(a.SystemUser), q(a.SystemPassword))
	}
	b.WriteString("  }\n}\nsystem_account: SYS\n")
	if a.IssuerPublicKey != "" {
		users := []string{q(a.ServerUser), q(a.AuthUser)}
		if a.SystemUser != "" {
			users = append(users, q(a.SystemUser))
		}
		// Everyone else is a device: the callout (a Pitwall server) checks
		// its id and secret against the store and gives it its rights.
		fmt.Fprintf(&b, "authorization {\n  auth_callout {\n    issuer: %s\n    account: AUTH\n    auth_users: [%s]\n  }\n}\n",
			a.IssuerPublicKey, strings.Join(users, ", "))
	}
	return b.String(), nil
}
