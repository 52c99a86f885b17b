package broker

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"unicode"

	"github.com/pitwall-io/pitwall/gateway/wire"
)

// Login is a user name and its secret's hash in Mosquitto's $7$ format.
type Login struct {
	User string
	Hash string
}

// WritePasswordFile writes a Mosquitto password_file: devices and server
// users, one "user:hash" line each.
func WritePasswordFile(w io.Writer, devices, servers []Login) error {
	if err := checkLogins(devices, servers, true); err != nil {
		return err
	}
	for _, l := range sorted(append(append([]Login(nil), servers...), devices...)) {
		if _, err := fmt.Fprintf(w, "%s:%s\n", l.User, l.Hash); err != nil {
			return err
		}
	}
	return nil
}

// WriteACL writes a Mosquitto acl_file with the same rights the embedded
// broker enforces: each device publishes its own messages and reads its
// own commands; server users read every device and send commands.
func WriteACL(w io.Writer, devices, servers []Login) error {
	if err := checkLogins(devices, servers, false); err != nil {
		return err
	}
	var b strings.Builder
	b.WriteString("# Written by `pitwall devices export`: the rights Pitwall's embedded broker enforces.\n")
	for _, s := range sorted(servers) {
		fmt.Fprintf(&b, "\nuser %s\ntopic read %s#\ntopic write %s+/%s\n", s.User, wire.Prefix, wire.Prefix, wire.KindCommand)
	}
	for _, d := range sorted(devices) {
		fmt.Fprintf(&b, "\nuser %s\n", d.User)
		for _, k := range deviceWrites {
			fmt.Fprintf(&b, "topic write %s\n", wire.Topic(d.User, k))
		}
		fmt.Fprintf(&b, "topic read %s\n", wire.Topic(d.User, wire.KindCommand))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// checkLogins refuses what would break a password file or an ACL: a
// device id that is not a wire device id, a server user name with a
// space, a colon or a control character, and (for the password file) a
// hash that is not $7$.
func checkLogins(devices, servers []Login, hashes bool) error {
	for _, d := range devices {
		if err := wire.ValidDeviceID(d.User); err != nil {
			return fmt.Errorf("broker: device login: %w", err)
		}
	}
	for _, s := range servers {
		if s.User == "" || len(s.User) > 256 || strings.ContainsFunc(s.User, func(r rune) bool { return r == ':' || unicode.IsSpace(r) || unicode.IsControl(r) }) {
			return fmt.Errorf("broker: server user %q: want 1 to 256 characters without spaces, colons or control characters", s.User)
		}
	}
	if hashes {
		for _, l := range append(append([]Login(nil), servers...), devices...) {
			if !strings.HasPrefix(l.Hash, "$7$") || strings.ContainsAny(l.Hash, ":\n") {
				return fmt.Errorf("broker: user %q: the hash is not in the $7$ format", l.User)
			}
		}
	}
	return nil
}

// ExportMosquitto writes dir/passwd and dir/acl, mode 0600. Both are
// checked and written in full to temporary files before either replaces
// the old one (by rename), so Mosquitto never reads half a file and a
// refused login leaves both old files as they were. A file replaced keeps
// its owner and group (Mosquitto reads them as its own user: create them
// once owned by it).
func ExportMosquitto(dir string, devices, servers []Login) error {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return err
	}
	type file struct {
		name string
		body bytes.Buffer
		tmp  string
	}
	files := []*file{{name: "passwd"}, {name: "acl"}}
	if err := WritePasswordFile(&files[0].body, devices, servers); err != nil {
		return err
	}
	if err := WriteACL(&files[1].body, devices, servers); err != nil {
		return err
	}
	defer func() {
		for _, f := range files {
			if f.tmp != "" {
				os.Remove(f.tmp)
			}
		}
	}()
	for _, f := range files {
		dst := filepath.Join(dir, f.name)
		tmp, err := os.CreateTemp(dir, "."+f.name+"-*")
		if err != nil {
			return fmt.Errorf("broker: writing %s: %w", dst, err)
		}
		f.tmp = tmp.Name()
		_, err = tmp.Write(f.body.Bytes())
		if err == nil {
			err = tmp.Chmod(0o600)
		}
		if old, serr := os.Stat(dst); err == nil && serr == nil {
			if st, ok := old.Sys().(*syscall.Stat_t); ok && (int(st.Uid) != os.Getuid() || int(st.Gid) != os.Getgid()) {
				err = tmp.Chown(int(st.Uid), int(st.Gid))
			}
		}
		if err == nil {
			err = tmp.Sync()
		}
		if cerr := tmp.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("broker: writing %s: %w", dst, err)
		}
	}
	for _, f := range files {
		if err := os.Rename(f.tmp, filepath.Join(dir, f.name)); err != nil {
			return fmt.Errorf("broker: replacing %s: %w", filepath.Join(dir, f.name), err)
		}
		f.tmp = ""
	}
	return nil
}

func sorted(ls []Login) []Login {
	sort.Slice(ls, func(i, j int) bool { return ls[i].User < ls[j].User })
	return ls
}
