package rules

import _ "embed"

//go:embed builtin.yaml
var builtinYAML []byte

// Builtin is Pitwall's built-in rule pack (rules/builtin.yaml, described
// in docs/rules.md). Its tests keep it free of errors.
func Builtin() *Set {
	set, _ := Parse("builtin.yaml", builtinYAML)
	return set
}

// BuiltinSource is the built-in pack's text, for people to read and copy.
func BuiltinSource() []byte { return append([]byte(nil), builtinYAML...) }
