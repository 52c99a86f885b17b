package configfile

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

type inner struct {
	Rate  int      `yaml:"rate"`
	Names []string `yaml:"names"`
}

type sample struct {
	Name  string  `yaml:"name"`
	Inner inner   `yaml:"inner"`
	List  []inner `yaml:"list"`
}

func (s *sample) Defaults() {
	if s.Name == "" {
		s.Name = "default"
	}
}

func (s *sample) Validate() error {
	var errs []error
	if s.Inner.Rate < 0 {
		errs = append(errs, Bad("inner.rate", "%d: not negative", s.Inner.Rate))
	}
	for i, l := range s.List {
		if l.Rate > 10 {
			errs = append(errs, Within("list["+string(rune('0'+i))+"]", Bad("rate", "%d: at most 10", l.Rate)))
		}
	}
	return errors.Join(errs...)
}

func write(t *testing.T, text string) string {
	p := filepath.Join(t.TempDir(), "c.yaml")
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoad(t *testing.T) {
	var s sample
	if err := Load(write(t, ""), &s); err != nil || s.Name != "default" {
		t.Fatalf("an empty file: %v, %+v", err, s)
	}
	p := write(t, "name: x\ninner:\n  rate: -1\nlist:\n  - rate: 1\n  - rate: 11\n")
	err := Load(p, &s)
	for _, want := range []string{p + ":3: inner.rate: -1: not negative", p + ":6: list[1].rate: 11: at most 10"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("want %q in %v", want, err)
		}
	}
	var fe *FieldError
	if !errors.As(err, &fe) || fe.File != p {
		t.Errorf("not a located FieldError: %#v", err)
	}
	p = write(t, "name: x\ninner:\n  rat: 1\n")
	if err := Load(p, &s); err == nil || !strings.Contains(err.Error(), p+": line 3: field rat not found") || strings.Contains(err.Error(), "configfile.") {
		t.Errorf("unknown key: %v", err)
	}
	p = write(t, "inner:\n  rate: fast\n")
	if err := Load(p, &s); err == nil || !strings.Contains(err.Error(), "line 2: cannot unmarshal !!str `fast` into int") {
		t.Errorf("wrong type: %v", err)
	}
}
