package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pitwall-io/pitwall/store"
	"github.com/pitwall-io/pitwall/testserver"
)

// `pitwall store migrate` copies a SQLite installation into an empty
// PostgreSQL database, listing the counts, and refuses to copy into it
// again.
func TestStoreMigrate(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		args []string
		code int
		err  string
	}{
		{[]string{"store"}, 2, "name what to do: migrate"},
		{[]string{"store", "migrate", "--from", "x.db"}, 2, "needs --from FILE.db and --to"},
		{[]string{"store", "migrate", "--from", "postgres://a/b", "--to", "postgres://a/c"}, 2, "--from \"postgres://a/b\": want the SQLite file"},
		{[]string{"store", "migrate", "--from", "x.db", "--to", "/tmp/y.db"}, 2, "--to \"/tmp/y.db\": want postgres://"},
		{[]string{"store", "migrate", "--from", "/nonexistent.db", "--to", "postgres://u:pw@127.0.0.1:1/x"}, 1, "--from: stat /nonexistent.db"},
	} {
		var out, errb bytes.Buffer
		if code := run(ctx, c.args, &out, &errb); code != c.code || !strings.Contains(errb.String(), c.err) {
			t.Errorf("%v: exit %d, %q; want %d and %q", c.args, code, errb.String(), c.code, c.err)
		}
	}
	if testing.Short() {
		return
	}
	path := filepath.Join(t.TempDir(), "pitwall.db")
	st, err := store.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	o, _ := st.AddOwner(ctx, store.Owner{Email: "ana@example.com", Name: "Ana"})
	v, _ := st.AddVehicle(ctx, store.Vehicle{OwnerID: o.ID, Make: "Ford"})
	for _, id := range []string{"car-1", "car-2"} {
		if _, _, err := st.AddDevice(ctx, id, v.ID); err != nil {
			t.Fatal(err)
		}
	}
	st.Close()
	url := testserver.PostgresURL(t)
	var out, errb bytes.Buffer
	if code := run(ctx, []string{"store", "migrate", "--from", path, "--to", url}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	for _, want := range []string{"owners", "devices                          2 rows", "the counts match"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	pg, err := store.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Close()
	if ds, err := pg.Devices(ctx); err != nil || len(ds) != 2 || ds[0].VehicleID != v.ID {
		t.Fatalf("devices in PostgreSQL: %+v, %v", ds, err)
	}
	errb.Reset()
	if code := run(ctx, []string{"store", "migrate", "--from", path, "--to", url}, &out, &errb); code != 1 || !strings.Contains(errb.String(), "not empty") || !strings.Contains(errb.String(), "devices (2 rows)") {
		t.Fatalf("into a non-empty database: exit %d, %s", code, errb.String())
	}
}
