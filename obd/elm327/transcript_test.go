package elm327

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pitwall-io/pitwall/obd"
)

// expectedCase is a transcript's expected.json: the calls the test makes
// and what each must return.
type expectedCase struct {
	Timeout   string `json:"timeout"`    // Config.Timeout, e.g. "100ms"
	OpenError string `json:"open_error"` // the Kind Open must fail with
	Calls     []struct {
		Call      string `json:"call"` // "do", "voltage" or "scan"
		Request   string `json:"request"`
		ECU       string `json:"ecu"` // physical addressing
		Expect    []int  `json:"expect"`
		Responses []struct {
			ECU  string `json:"ecu"`
			Data string `json:"data"`
		} `json:"responses"`
		Voltage   float64 `json:"voltage"`
		ErrorKind string  `json:"error_kind"` // a Kind's String()
		Error     string  `json:"error"`      // text the error must contain
		Scan      *struct {
			VIN            string   `json:"vin"`
			CalibrationIDs []string `json:"calibration_ids"`
			CVNs           []string `json:"cvns"`
			Values         int      `json:"values"`
			// Problems must each appear in one of the scan's problems
			// ("step: error"), and the scan has no others.
			Problems []string `json:"problems"`
		} `json:"scan"`
	} `json:"calls"`
	Info *struct {
		Identity    string   `json:"identity"`
		Version     string   `json:"version"`
		Protocol    int      `json:"protocol"`
		Auto        bool     `json:"auto"`
		Headers     bool     `json:"headers"`
		CountSuffix bool     `json:"count_suffix"`
		Clone       bool     `json:"clone"`
		Quirks      []string `json:"quirks"` // each must appear in part in Info.Quirks
	} `json:"info"`
}

func TestTranscripts(t *testing.T) {
	dirs, _ := filepath.Glob("testdata/transcripts/*/transcript.txt")
	if len(dirs) == 0 {
		t.Fatal("no transcripts")
	}
	for _, path := range dirs {
		dir := filepath.Dir(path)
		t.Run(filepath.Base(dir), func(t *testing.T) {
			for seed := int64(1); seed <= 3; seed++ { // three ways of splitting the reads
				runTranscript(t, dir, seed)
			}
		})
	}
}

func runTranscript(t *testing.T, dir string, seed int64) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(dir, "expected.json"))
	if err != nil {
		t.Fatal(err)
	}
	var exp expectedCase
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&exp); err != nil {
		t.Fatalf("expected.json: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	p := &player{tr: loadTranscript(t, filepath.Join(dir, "transcript.txt")), seed: seed}
	cfg := Config{Network: "script", Address: dir}
	if exp.Timeout != "" {
		cfg.Timeout, _ = time.ParseDuration(exp.Timeout)
	}
	c, err := OpenConfig(ctx, cfg, withDialer(p.dial))
	if exp.OpenError != "" {
		var re *ReplyError
		if !errors.As(err, &re) || re.Kind.String() != exp.OpenError {
			t.Fatalf("Open: got %v, want a %q error", err, exp.OpenError)
		}
		p.check(t)
		return
	}
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer c.Close()
	for i, call := range exp.Calls {
		switch call.Call {
		case "do":
			b, err := hex.DecodeString(call.Request)
			if err != nil || len(b) == 0 {
				t.Fatalf("call %d: bad request %q", i+1, call.Request)
			}
			resp, err := c.Do(ctx, obd.Request{Service: obd.Service(b[0]), Data: b[1:], Expect: call.Expect, ECU: obd.ECU(call.ECU)})
			checkErr(t, i, err, call.ErrorKind, call.Error)
			var got []string
			for _, r := range resp {
				got = append(got, string(r.ECU)+":"+strings.ToUpper(hex.EncodeToString(r.Data)))
			}
			var want []string
			for _, r := range call.Responses {
				want = append(want, r.ECU+":"+r.Data)
			}
			if !slices.Equal(got, want) {
				t.Errorf("call %d (%s): got %v, want %v", i+1, call.Request, got, want)
			}
		case "voltage":
			v, err := c.BatteryVoltage(ctx)
			checkErr(t, i, err, call.ErrorKind, call.Error)
			if err == nil && v != call.Voltage {
				t.Errorf("call %d: voltage %v, want %v", i+1, v, call.Voltage)
			}
		case "scan":
			// A whole scan through obd.Client, as pitwall scan runs it.
			r, err := obd.Scan(ctx, obd.NewClient(c))
			if err != nil {
				t.Fatalf("call %d: scan: %v", i+1, err)
			}
			w := call.Scan
			var cal, cvns []string
			for _, e := range r.ECUs {
				cal, cvns = append(cal, e.CalibrationIDs...), append(cvns, e.CVNs...)
			}
			if r.VIN != w.VIN || !slices.Equal(cal, w.CalibrationIDs) || !slices.Equal(cvns, w.CVNs) || len(r.Values) != w.Values {
				t.Errorf("call %d: scan VIN %q, calibration ids %q, CVNs %q, %d values; want %q, %q, %q, %d",
					i+1, r.VIN, cal, cvns, len(r.Values), w.VIN, w.CalibrationIDs, w.CVNs, w.Values)
			}
			var got []string
			for _, p := range r.Problems {
				got = append(got, p.Step+": "+p.Error)
			}
			for _, want := range w.Problems {
				if !slices.ContainsFunc(got, func(s string) bool { return strings.Contains(s, want) }) {
					t.Errorf("call %d: no problem says %q; problems:\n%s", i+1, want, strings.Join(got, "\n"))
				}
			}
			if len(got) != len(w.Problems) {
				t.Errorf("call %d: %d problems, want %d:\n%s", i+1, len(got), len(w.Problems), strings.Join(got, "\n"))
			}
		default:
			t.Fatalf("call %d: unknown call %q", i+1, call.Call)
		}
	}
	if w := exp.Info; w != nil {
		got := c.Info()
		if got.Identity != w.Identity || got.Version != w.Version || int(got.Protocol) != w.Protocol || got.Auto != w.Auto ||
			got.Headers != w.Headers || got.CountSuffix != w.CountSuffix || got.Clone != w.Clone {
			t.Errorf("info: got %+v, want %+v", got, *w)
		}
		for _, q := range w.Quirks {
			if !slices.ContainsFunc(got.Quirks, func(s string) bool { return strings.Contains(s, q) }) {
				t.Errorf("info: quirk %q not among %q", q, got.Quirks)
			}
		}
	}
	p.check(t)
}

func checkErr(t *testing.T, i int, err error, kind, text string) {
	t.Helper()
	if kind == "" && text == "" {
		if err != nil {
			t.Errorf("call %d: %v", i+1, err)
		}
		return
	}
	if err == nil {
		t.Errorf("call %d: no error, want %q %q", i+1, kind, text)
		return
	}
	if kind != "" {
		var re *ReplyError
		if !errors.As(err, &re) || re.Kind.String() != kind {
			t.Errorf("call %d: got %v, want a %q error", i+1, err, kind)
		}
	}
	if text != "" && !strings.Contains(err.Error(), text) {
		t.Errorf("call %d: error %q does not say %q", i+1, err, text)
	}
}
