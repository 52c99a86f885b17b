package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nats-io/nkeys"

	"github.com/pitwall-io/pitwall/testserver"
)

// What `pitwall nats config` prints is a configuration nats-server
// accepts, included from a node's file as deploy/nats does, with and
// without the auth callout; bad flags are refused.
func TestNATSConfigCommand(t *testing.T) {
	bin := testserver.NATSBin()
	if bin == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("nats-server is not installed; scripts/test installs it")
		}
		t.Skip("nats-server is not installed: run ./scripts/test, which installs it")
	}
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	pw := write("server-password", "s3cret\n")
	authPW := write("auth-password", "an0ther\n")
	kp, err := nkeys.CreateAccount()
	if err != nil {
		t.Fatal(err)
	}
	seed, _ := kp.Seed()
	pub, _ := kp.PublicKey()
	seedFile := write("issuer.nk", string(seed)+"\n")

	check := func(name, accounts string) {
		t.Helper()
		write("pitwall-accounts.conf", accounts)
		node := write(name+".conf", "server_name: n1\nlisten: 127.0.0.1:-1\njetstream { store_dir: \""+filepath.Join(dir, "js")+
			"\" }\nmqtt { listen: 127.0.0.1:-1 }\ninclude ./pitwall-accounts.conf\n")
		out, err := exec.Command(bin, "-t", "-c", node).CombinedOutput()
		if err != nil {
			t.Errorf("%s: nats-server refuses the configuration: %v\n%s\n%s", name, err, out, accounts)
		}
	}
	plain := do0(t, 0, "nats", "config", "--server-password-file", pw, "--partitions", "8")
	if !strings.Contains(plain, `"s3cret"`) || !strings.Contains(plain, "partition(8,1)") || strings.Contains(plain, "auth_callout") {
		t.Errorf("without a callout:\n%s", plain)
	}
	check("plain", plain)
	callout := do0(t, 0, "nats", "config", "--server-password-file", pw, "--issuer-seed-file", seedFile, "--auth-password-file", authPW)
	if !strings.Contains(callout, "issuer: "+pub) || !strings.Contains(callout, `"an0ther"`) || !strings.Contains(callout, "partition(16,1)") {
		t.Errorf("with a callout:\n%s", callout)
	}
	check("callout", callout)

	user, _ := nkeys.CreateUser()
	userSeed, _ := user.Seed()
	notAccount := write("user.nk", string(userSeed)+"\n")
	for _, args := range [][]string{
		{"nats", "config"},
		{"nats", "config", "--server-password-file", pw, "--partitions", "0"},
		{"nats", "nonsense"},
	} {
		do0(t, 2, args...)
	}
	if out := do0(t, 1, "nats", "config", "--server-password-file", pw, "--issuer-seed-file", notAccount); !strings.Contains(out, "--issuer-seed-file") {
		t.Errorf("a user seed as issuer: %s", out)
	}
	if out := do0(t, 1, "nats", "config", "--server-password-file", filepath.Join(dir, "missing")); !strings.Contains(out, "--server-password-file") {
		t.Errorf("a missing password file: %s", out)
	}
}
