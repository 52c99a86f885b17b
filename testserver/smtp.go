package testserver

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"fmt"
	"io"
	"math/big"
	"mime/quotedprintable"
	"net"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// SMTP is a small mail server for tests: it speaks enough SMTP for
// net/smtp (EHLO, STARTTLS, AUTH PLAIN, MAIL, RCPT, DATA) and keeps the
// messages it receives.
type SMTP struct {
	// Pool trusts the server's certificate, for a client's tls.Config.
	Pool *x509.CertPool

	l     net.Listener
	opt   SMTPOptions
	tls   *tls.Config
	mu    sync.Mutex
	mails []Mail
	users []string
	wg    sync.WaitGroup
}

// SMTPOptions shape the server.
type SMTPOptions struct {
	// NoTLS offers no STARTTLS (clients must allow plain connections).
	NoTLS bool
	// User and Password, when set, are the one login AUTH PLAIN takes.
	User, Password string
}

// Mail is one received message.
type Mail struct {
	To   []string
	Data string // headers and body as sent
}

// Body is the message's text, with quoted-printable undone when the
// message says it is.
func (m Mail) Body() string {
	head, body, _ := strings.Cut(m.Data, "\r\n\r\n")
	if !strings.Contains(strings.ToLower(head), "content-transfer-encoding: quoted-printable") {
		return body
	}
	b, err := io.ReadAll(quotedprintable.NewReader(strings.NewReader(body)))
	if err != nil {
		return body
	}
	return string(b)
}

// StartSMTP runs a mail server on a free loopback port until the test ends.
func StartSMTP(t testing.TB, opt SMTPOptions) *SMTP {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"}, NotBefore: time.Now().Add(-time.Hour),
		NotAfter: time.Now().Add(time.Hour), IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &SMTP{Pool: pool, l: l, opt: opt, tls: &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			s.wg.Add(1)
			go func() { defer s.wg.Done(); s.serve(c) }()
		}
	}()
	t.Cleanup(func() { l.Close(); s.wg.Wait() })
	return s
}

// Addr is the server's host:port.
func (s *SMTP) Addr() string { return s.l.Addr().String() }

// Mails are the messages received so far.
func (s *SMTP) Mails() []Mail {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Mail(nil), s.mails...)
}

// Logins are the users that logged in, once a login.
func (s *SMTP) Logins() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.users...)
}

// WaitMail waits until a message to the address whose text matches re
// arrives, and returns the first submatch (or the whole match).
func (s *SMTP) WaitMail(t testing.TB, to string, re *regexp.Regexp, within time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		for _, m := range s.Mails() {
			for _, rcpt := range m.To {
				if !strings.EqualFold(rcpt, to) {
					continue
				}
				if sm := re.FindStringSubmatch(m.Body()); sm != nil {
					return sm[len(sm)-1]
				}
			}
		}
		if time.Now().After(deadline) {
			var got strings.Builder
			for _, m := range s.Mails() {
				fmt.Fprintf(&got, "\n--- to %v\n%s", m.To, m.Data)
			}
			t.Fatalf("no mail to %s matching %s within %v; received:%s", to, re, within, got.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (s *SMTP) serve(c net.Conn) {
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	r := bufio.NewReader(c)
	say := func(line string) { _, _ = io.WriteString(c, line+"\r\n") }
	secure := false
	var to []string
	say("220 test ESMTP")
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		line = strings.TrimRight(line, "\r\n")
		cmd := strings.ToUpper(strings.SplitN(line, " ", 2)[0])
		switch cmd {
		case "EHLO", "HELO":
			say("250-test")
			if !secure && !s.opt.NoTLS {
				say("250 STARTTLS")
			} else {
				say("250 AUTH PLAIN")
			}
		case "STARTTLS":
			say("220 go ahead")
			tc := tls.Server(c, s.tls)
			if tc.Handshake() != nil {
				return
			}
			c, r, secure = tc, bufio.NewReader(tc), true
			say = func(line string) { _, _ = io.WriteString(c, line+"\r\n") }
		case "AUTH":
			parts := strings.Fields(line)
			raw, _ := base64.StdEncoding.DecodeString(parts[len(parts)-1])
			f := strings.Split(string(raw), "\x00")
			if len(f) == 3 && (s.opt.User == "" || f[1] == s.opt.User && f[2] == s.opt.Password) {
				s.mu.Lock()
				s.users = append(s.users, f[1])
				s.mu.Unlock()
				say("235 ok")
			} else {
				say("535 no")
			}
		case "RCPT":
			if _, addr, ok := strings.Cut(line, ":"); ok {
				to = append(to, strings.Trim(strings.TrimSpace(addr), "<>"))
			}
			say("250 ok")
		case "MAIL", "RSET", "NOOP":
			say("250 ok")
		case "DATA":
			say("354 go on")
			var b strings.Builder
			for {
				l, err := r.ReadString('\n')
				if err != nil {
					return
				}
				if l == ".\r\n" {
					break
				}
				b.WriteString(strings.TrimPrefix(l, "."))
			}
			s.mu.Lock()
			s.mails = append(s.mails, Mail{To: to, Data: b.String()})
			s.mu.Unlock()
			to = nil
			say("250 queued")
		case "QUIT":
			say("221 bye")
			return
		default:
			say("502 what")
		}
	}
}
