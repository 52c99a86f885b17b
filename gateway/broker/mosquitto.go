package broker

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

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
	for _, l := range sorted(append(append([]Login(nil), servers...), devices...)) {
		if strings.ContainsAny(l.User, ":\n") || !strings.HasPrefix(l.Hash, "$7$") {
			return fmt.Errorf("broker: cannot write user %q with hash %q to a password file", l.User, l.Hash)
		}
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
	var b strings.Builder
	b.WriteString("# Written by `pitwall devices export`: the rights Pitwall's embedded broker enforces.\n")
	for _, s := range sorted(servers) {
		fmt.Fprintf(&b, "\nuser %s\ntopic read %s#\ntopic write %s+/%s\n", s.User, wire.Prefix, wire.Prefix, wire.KindCommand)
	}
	for _, d := range sorted(devices) {
		if err := wire.ValidDeviceID(d.User); err != nil {
			return err
		}
		fmt.Fprintf(&b, "\nuser %s\n", d.User)
		for _, k := range deviceWrites {
			fmt.Fprintf(&b, "topic write %s\n", wire.Topic(d.User, k))
		}
		fmt.Fprintf(&b, "topic read %s\n", wire.Topic(d.User, wire.KindCommand))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// ExportMosquitto writes dir/passwd and dir/acl, each replaced whole, so
// Mosquitto never reads half a file.
func ExportMosquitto(dir string, devices, servers []Login) error {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return err
	}
	for name, write := range map[string]func(io.Writer, []Login, []Login) error{"passwd": WritePasswordFile, "acl": WriteACL} {
		tmp, err := os.CreateTemp(dir, "."+name+"-*")
		if err != nil {
			return err
		}
		err = write(tmp, devices, servers)
		if err == nil {
			err = tmp.Chmod(0o640)
		}
		if err == nil {
			err = tmp.Sync()
		}
		if cerr := tmp.Close(); err == nil {
			err = cerr
		}
		if err == nil {
			err = os.Rename(tmp.Name(), filepath.Join(dir, name))
		}
		if err != nil {
			os.Remove(tmp.Name())
			return fmt.Errorf("broker: writing %s: %w", filepath.Join(dir, name), err)
		}
	}
	return nil
}

func sorted(ls []Login) []Login {
	sort.Slice(ls, func(i, j int) bool { return ls[i].User < ls[j].User })
	return ls
}
