package main

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pitwall-io/pitwall/obd"
	"github.com/pitwall-io/pitwall/obd/obdtest"
)

var update = flag.Bool("update", false, "rewrite golden files")

func TestCommandLine(t *testing.T) {
	cases := []struct {
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{nil, 0, "Usage: pitwall COMMAND", ""},
		{[]string{"help"}, 0, "scan ", ""},
		{[]string{"help", "scan"}, 0, "--adapter URL", ""},
		{[]string{"help", "nope"}, 2, "", "unknown command"},
		{[]string{"nope"}, 2, "", `unknown command "nope"`},
		{[]string{"scan"}, 2, "", "--adapter is required"},
		{[]string{"scan", "--adaptr", "x"}, 2, "", "flag provided but not defined: -adaptr"},
		{[]string{"scan", "--adapter", "usb://x"}, 1, "", `unknown scheme "usb"`},
		{[]string{"scan", "--adapter", "tcp://127.0.0.1"}, 1, "", "want tcp://HOST:PORT"},
		{[]string{"bench"}, 2, "", "name what to measure"},
		{[]string{"bench", "obd", "--adapter", "x", "--pids", "ZZ"}, 2, "", `"ZZ" is not a hex PID`},
		{[]string{"demo"}, 1, "", "not built yet"},
		{[]string{"version"}, 0, "pitwall ", ""},
	}
	for _, c := range cases {
		var out, errb bytes.Buffer
		code := run(context.Background(), c.args, &out, &errb)
		if code != c.code || !strings.Contains(out.String(), c.stdout) || !strings.Contains(errb.String(), c.stderr) {
			t.Errorf("pitwall %s: exit %d, stdout %q, stderr %q; want exit %d with %q / %q",
				strings.Join(c.args, " "), code, out.String(), errb.String(), c.code, c.stdout, c.stderr)
		}
	}
}

// The report a person reads, for the sample car.
func TestScanReportText(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r, err := obd.Scan(ctx, obd.NewClient(obdtest.SampleCar()))
	if err != nil {
		t.Fatal(err)
	}
	r.Adapter = map[string]any{"url": "tcp://192.168.0.10:35000", "identity": "ELM327 v1.5", "clone": true,
		"quirks": []string{"answers OK to commands it does not know; settings are checked by their effect"}}
	var b bytes.Buffer
	writeReport(&b, r)
	path := filepath.Join("testdata", "scan-report.txt")
	if *update {
		_ = os.MkdirAll("testdata", 0o755)
		_ = os.WriteFile(path, b.Bytes(), 0o644)
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update)", err)
	}
	if b.String() != string(want) {
		t.Errorf("report differs from %s:\n%s", path, b.String())
	}
}
