// Package configfile reads Pitwall's YAML configuration files strictly: a
// key the program does not know is an error, and every error names the
// file and the line, so a typo never turns silently into a default.
package configfile

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// FieldError is a bad value and where it is. Validate methods return
// them (joined) with Field set; Load fills in File and Line.
type FieldError struct {
	File  string
	Line  int
	Field string // a dotted path like poll.tiers[1].hz
	Msg   string
}

func (e *FieldError) Error() string {
	where := e.File
	if e.Line > 0 {
		where += ":" + strconv.Itoa(e.Line)
	}
	if where != "" {
		where += ": "
	}
	return where + e.Field + ": " + e.Msg
}

// Bad makes a FieldError.
func Bad(field, format string, args ...any) error {
	return &FieldError{Field: field, Msg: fmt.Sprintf(format, args...)}
}

// Within prefixes the fields of a section's errors with the section's
// key, so a nested Validate can name its own keys.
func Within(section string, err error) error {
	if err == nil {
		return nil
	}
	var out []error
	for _, e := range unjoin(err) {
		var fe *FieldError
		if errors.As(e, &fe) {
			fe.Field = section + "." + fe.Field
		}
		out = append(out, e)
	}
	return errors.Join(out...)
}

// Config is what Load fills: defaults in one place, then a check.
type Config interface {
	Defaults()
	Validate() error
}

// Load reads path into c: strict YAML, then c.Defaults, then c.Validate,
// whose FieldErrors get the file and line of their key.
func Load(path string, c Config) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(c); err != nil && !errors.Is(err, io.EOF) {
		msg := strings.TrimPrefix(strings.ReplaceAll(err.Error(), "yaml: ", ""), "unmarshal errors:\n  ")
		return fmt.Errorf("%s: %s", path, goTypeRE.ReplaceAllString(msg, ""))
	}
	c.Defaults()
	err = c.Validate()
	if err == nil {
		return nil
	}
	var root yaml.Node
	_ = yaml.Unmarshal(data, &root)
	var out []error
	for _, e := range unjoin(err) {
		var fe *FieldError
		if errors.As(e, &fe) {
			fe.File, fe.Line = path, lineOf(&root, fe.Field)
		}
		out = append(out, e)
	}
	return errors.Join(out...)
}

// goTypeRE matches the Go type names yaml's errors mention, which mean
// nothing to the person editing the file.
var goTypeRE = regexp.MustCompile(` (in|into) type [\w.\[\]*]+`)

// Fields lists, sorted, the keys a Validate error names (its FieldErrors).
func Fields(err error) []string {
	var out []string
	if err == nil {
		return nil
	}
	for _, e := range unjoin(err) {
		var fe *FieldError
		if errors.As(e, &fe) {
			out = append(out, fe.Field)
		}
	}
	sort.Strings(out)
	return out
}

// unjoin flattens joined errors, however nested.
func unjoin(err error) []error {
	j, ok := err.(interface{ Unwrap() []error })
	if !ok {
		return []error{err}
	}
	var out []error
	for _, e := range j.Unwrap() {
		out = append(out, unjoin(e)...)
	}
	return out
}

// lineOf finds the line of a dotted field path like poll.tiers[1].hz, or
// of the nearest key on the way to it.
func lineOf(root *yaml.Node, field string) int {
	n := root
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	line := 0
	for _, part := range strings.Split(field, ".") {
		name, idx := part, -1
		if i := strings.Index(part, "["); i > 0 {
			name = part[:i]
			idx, _ = strconv.Atoi(strings.Trim(part[i:], "[]"))
		}
		found := false
		if n.Kind == yaml.MappingNode {
			for i := 0; i+1 < len(n.Content); i += 2 {
				if n.Content[i].Value == name {
					line, n, found = n.Content[i].Line, n.Content[i+1], true
					break
				}
			}
		}
		if !found {
			return line
		}
		if idx >= 0 && n.Kind == yaml.SequenceNode && idx < len(n.Content) {
			n = n.Content[idx]
			line = n.Line
		}
	}
	return line
}
