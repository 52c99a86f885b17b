package broker_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/pitwall-io/pitwall/gateway/broker"
	"github.com/pitwall-io/pitwall/store"
)

// An export refused for a bad login leaves the old files exactly as they
// were, and nothing half-written beside them; the files are 0600 and keep
// the owner an operator gave them.
func TestExportAtomic(t *testing.T) {
	dir := t.TempDir()
	hash := store.HashSecret("s3cret-s3cret-s3cret")
	servers := []broker.Login{{User: "pitwall-server", Hash: hash}}
	good := []broker.Login{{User: "car-1", Hash: hash}, {User: "car-2", Hash: hash}}
	if err := broker.ExportMosquitto(dir, good, servers); err != nil {
		t.Fatal(err)
	}
	read := func() map[string][]byte {
		out := map[string][]byte{}
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			b, _ := os.ReadFile(filepath.Join(dir, e.Name()))
			out[e.Name()] = b
			if fi, _ := e.Info(); fi.Mode().Perm() != 0o600 {
				t.Errorf("%s has mode %v, want 0600", e.Name(), fi.Mode().Perm())
			}
		}
		return out
	}
	before := read()
	if len(before) != 2 || !bytes.Contains(before["passwd"], []byte("car-2:$7$")) || !bytes.Contains(before["acl"], []byte("user car-2")) {
		t.Fatalf("exported %q", before)
	}
	for name, bad := range map[string]struct{ devices, servers []broker.Login }{
		"a wildcard id":                {append(good, broker.Login{User: "a/b#", Hash: hash}), servers},
		"a plus":                       {append(good, broker.Login{User: "+", Hash: hash}), servers},
		"a 300-character id":           {append(good, broker.Login{User: strings.Repeat("x", 300), Hash: hash}), servers},
		"a bad hash":                   {append(good, broker.Login{User: "car-3", Hash: "plain"}), servers},
		"a server user with a newline": {good, []broker.Login{{User: "pitwall\nuser car-1\ntopic write #", Hash: hash}}},
	} {
		if err := broker.ExportMosquitto(dir, bad.devices, bad.servers); err == nil {
			t.Errorf("%s: exported", name)
		}
		after := read()
		if len(after) != 2 || !bytes.Equal(after["passwd"], before["passwd"]) || !bytes.Equal(after["acl"], before["acl"]) {
			t.Errorf("%s: the files changed or others appeared: %v", name, keys(after))
		}
	}
	if os.Getuid() != 0 {
		t.Log("not root: the owner is not checked")
		return
	}
	for _, f := range []string{"passwd", "acl"} {
		if err := os.Chown(filepath.Join(dir, f), 65534, 65534); err != nil {
			t.Fatal(err)
		}
	}
	if err := broker.ExportMosquitto(dir, good[:1], servers); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"passwd", "acl"} {
		fi, _ := os.Stat(filepath.Join(dir, f))
		if st := fi.Sys().(*syscall.Stat_t); st.Uid != 65534 || st.Gid != 65534 {
			t.Errorf("%s is owned by %d:%d after the export, want 65534:65534", f, st.Uid, st.Gid)
		}
	}
}

func keys(m map[string][]byte) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
