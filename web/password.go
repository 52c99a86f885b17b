package web

import (
	_ "embed"
	"errors"
	"strings"
	"unicode/utf8"
)

// ErrWeakPassword is wrapped by every complaint about a new password.
var ErrWeakPassword = errors.New("password")

// commonPasswords are passwords seen so often in leaked lists that an
// attacker tries them first: one a line, lower case.
//
//go:embed common-passwords.txt
var commonPasswordsText string

var commonPasswords = func() map[string]bool {
	m := map[string]bool{}
	for _, l := range strings.Split(commonPasswordsText, "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			m[l] = true
		}
	}
	return m
}()

// CheckPassword is the password rule: 10 to 72 bytes (bcrypt reads no
// more), not one of the commonest passwords, not the email address or its
// name part, and not one character repeated or a plain run like
// "1234567890".
func CheckPassword(pw, email string) error {
	bad := func(msg string) error { return &weakPassword{msg} }
	lower := strings.ToLower(pw)
	email = strings.ToLower(strings.TrimSpace(email))
	name, _, _ := strings.Cut(email, "@")
	switch {
	case utf8.RuneCountInString(pw) < 10:
		return bad("use at least 10 characters")
	case len(pw) > 72:
		return bad("use at most 72 bytes")
	case commonPasswords[lower]:
		return bad("it is one of the passwords attackers try first; choose another")
	case email != "" && (lower == email || len(name) >= 4 && strings.Contains(lower, name)):
		return bad("do not use your email address in it")
	case isRun(lower):
		return bad("a repeated character or a run like 1234567890 is guessed at once")
	}
	return nil
}

type weakPassword struct{ msg string }

func (e *weakPassword) Error() string { return "password: " + e.msg }
func (e *weakPassword) Unwrap() error { return ErrWeakPassword }

// isRun: every character the same, or each one after (or before) the last.
func isRun(s string) bool {
	r := []rune(s)
	same, up, down := true, true, true
	for i := 1; i < len(r); i++ {
		same = same && r[i] == r[0]
		up = up && r[i] == r[i-1]+1
		down = down && r[i] == r[i-1]-1
	}
	return same || up || down
}
