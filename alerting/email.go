package alerting

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"mime"
	"net"
	"net/smtp"
	"strings"
	"time"
)

// Email sends each notification to the vehicle owner's address over SMTP,
// upgrading the connection with STARTTLS (required unless AllowPlain) and
// logging in when a user name is given.
type Email struct {
	Addr     string // host:port of the submission server
	Username string
	Password string
	From     string
	// TLS verifies the server (the system's roots and Addr's host by
	// default).
	TLS        *tls.Config
	AllowPlain bool
}

// Name is "email".
func (e *Email) Name() string { return "email" }

// Notify sends the mail; a device with no owner (or no address) is told
// nothing by email.
func (e *Email) Notify(ctx context.Context, n *Notification) error {
	to := n.Recipient.Owner.Email
	if to == "" {
		return nil
	}
	return e.Send(ctx, to, n.ID, subject(n), text(n), n.Time)
}

// Send mails one plain-text message; id makes its Message-ID, so a resend
// is recognisable. Other senders (shop leads) use it with their own text.
func (e *Email) Send(ctx context.Context, to, id, subject, body string, at time.Time) error {
	msg := e.compose(to, id, subject, body, at)
	d := net.Dialer{Timeout: 10 * time.Second}
	conn, err := d.DialContext(ctx, "tcp", e.Addr)
	if err != nil {
		return fmt.Errorf("email via %s: %w", e.Addr, err)
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	host, _, _ := net.SplitHostPort(e.Addr)
	c, err := smtp.NewClient(conn, host)
	if err != nil {
		conn.Close()
		return fmt.Errorf("email via %s: %w", e.Addr, err)
	}
	defer c.Close()
	if err := c.Hello("pitwall"); err != nil {
		return fmt.Errorf("email via %s: %w", e.Addr, err)
	}
	if ok, _ := c.Extension("STARTTLS"); ok {
		cfg := e.TLS
		if cfg == nil {
			cfg = &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
		}
		if err := c.StartTLS(cfg); err != nil {
			return fmt.Errorf("email via %s: STARTTLS: %w", e.Addr, err)
		}
	} else if !e.AllowPlain {
		return errors.Join(ErrRefused, fmt.Errorf("email via %s: the server does not offer STARTTLS", e.Addr))
	}
	if e.Username != "" {
		if err := c.Auth(smtp.PlainAuth("", e.Username, e.Password, host)); err != nil {
			return fmt.Errorf("email via %s: login: %w", e.Addr, err)
		}
	}
	if err := c.Mail(e.From); err != nil {
		return fmt.Errorf("email via %s: MAIL FROM: %w", e.Addr, err)
	}
	if err := c.Rcpt(to); err != nil {
		return fmt.Errorf("email via %s: RCPT TO %s: %w", e.Addr, to, err)
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("email via %s: DATA: %w", e.Addr, err)
	}
	if _, err := w.Write([]byte(msg)); err != nil {
		return fmt.Errorf("email via %s: %w", e.Addr, err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("email via %s: %w", e.Addr, err)
	}
	return c.Quit()
}

// compose writes the message: plain text, UTF-8, with a Message-ID made
// from the notification's id so a resend is recognisable.
func (e *Email) compose(to, id, subject, body string, at time.Time) string {
	var b strings.Builder
	h := func(k, v string) { fmt.Fprintf(&b, "%s: %s\r\n", k, v) }
	h("From", e.From)
	h("To", to)
	h("Subject", mime.QEncoding.Encode("utf-8", "[Pitwall] "+subject))
	h("Date", at.UTC().Format(time.RFC1123Z))
	h("Message-ID", "<"+id+"@pitwall>")
	h("MIME-Version", "1.0")
	h("Content-Type", "text/plain; charset=utf-8")
	h("Content-Transfer-Encoding", "8bit")
	b.WriteString("\r\n")
	b.WriteString(strings.ReplaceAll(body, "\n", "\r\n"))
	return b.String()
}

var _ Notifier = (*Email)(nil)
