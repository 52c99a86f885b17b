package server

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/pitwall-io/pitwall/alerting"
	"github.com/pitwall-io/pitwall/diagnosis"
	"github.com/pitwall-io/pitwall/rules"
	"github.com/pitwall-io/pitwall/store"
)

// RulesConfig chooses the rules.
type RulesConfig struct {
	// Builtin runs the built-in pack (true unless set to false).
	Builtin *bool `yaml:"builtin"`
	// Files are rule files of your own, added to the pack.
	Files []string `yaml:"files"`
}

// AlertingConfig is how alerts reach people.
type AlertingConfig struct {
	GroupWait      time.Duration `yaml:"group_wait"`
	GroupInterval  time.Duration `yaml:"group_interval"`
	RepeatInterval time.Duration `yaml:"repeat_interval"`
	// LogRetention is how long the notification log keeps what was told
	// (7 days by default; 48h to 8760h): older rows are deleted hourly,
	// but each firing alert's latest telling.
	LogRetention time.Duration `yaml:"log_retention"`
	Webhook      WebhookConfig `yaml:"webhook"`
	Email        EmailConfig   `yaml:"email"`
	MQTT         MQTTAlerts    `yaml:"mqtt"`
}

// WebhookConfig posts every notification to an operator's URL.
type WebhookConfig struct {
	URL        string `yaml:"url"`
	Secret     string `yaml:"secret"`
	SecretFile string `yaml:"secret_file"`
}

// EmailConfig sends owners email through an SMTP server.
type EmailConfig struct {
	Addr         string `yaml:"addr"` // host:port; empty for no email
	Username     string `yaml:"username"`
	Password     string `yaml:"password"`
	PasswordFile string `yaml:"password_file"`
	From         string `yaml:"from"`
	AllowPlain   bool   `yaml:"allow_plain"` // without STARTTLS: only on a trusted network
}

// MQTTAlerts publishes to owners' app topics through the embedded broker.
type MQTTAlerts struct {
	Enabled bool `yaml:"enabled"`
}

// loadRules reads the built-in pack and the configured files. Problems
// are logged and the good rules run: one bad rule never stops the others.
func (s *Server) loadRules() *rules.Set {
	set := &rules.Set{}
	if b := s.cfg.Rules.Builtin; b == nil || *b {
		set = rules.Builtin()
	}
	for _, f := range s.cfg.Rules.Files {
		more, err := rules.LoadFile(f)
		if err != nil {
			s.log.Error("rules: problems in a rule file; its good rules run", "file", f, "err", err)
		}
		set.Rules = append(set.Rules, more.Rules...)
		set.Inhibits = append(set.Inhibits, more.Inhibits...)
	}
	if kb, err := diagnosis.Builtin(); err == nil {
		if err := set.CheckSymptoms(kb.SymptomIDs()); err != nil {
			s.log.Error("rules: symptom labels the knowledge base does not explain; those rules still alert", "err", err)
		}
	}
	return set
}

// notifiers builds the configured notifiers; the in-app feed is always on.
func (s *Server) notifiers() ([]alerting.Notifier, error) {
	a := s.cfg.Alerting
	s.Feed = &alerting.Feed{Store: s.Store}
	out := []alerting.Notifier{s.Feed}
	if a.Webhook.URL != "" {
		secret, err := secretOf(a.Webhook.Secret, a.Webhook.SecretFile)
		if err != nil {
			return nil, fmt.Errorf("server: alerting.webhook.secret_file: %w", err)
		}
		out = append(out, &alerting.Webhook{URL: a.Webhook.URL, Secret: secret})
	}
	email, err := s.email()
	if err != nil {
		return nil, err
	}
	if email != nil {
		out = append(out, email)
	}
	if a.MQTT.Enabled && s.Broker != nil {
		out = append(out, &alerting.MQTT{Publish: func(_ context.Context, topic string, payload []byte) error {
			return s.Broker.Publish(topic, payload, false)
		}})
	}
	return out, nil
}

// email is the configured SMTP sender, nil without one.
func (s *Server) email() (*alerting.Email, error) {
	a := s.cfg.Alerting
	if a.Email.Addr == "" {
		return nil, nil
	}
	pw, err := secretOf(a.Email.Password, a.Email.PasswordFile)
	if err != nil {
		return nil, fmt.Errorf("server: alerting.email.password_file: %w", err)
	}
	return &alerting.Email{Addr: a.Email.Addr, Username: a.Email.Username, Password: pw, From: a.Email.From, AllowPlain: a.Email.AllowPlain}, nil
}

func secretOf(inline, file string) (string, error) {
	if file == "" {
		return inline, nil
	}
	b, err := os.ReadFile(file)
	return strings.TrimSpace(string(b)), err
}

// maintenance is what the rules know of a device's last service.
func (s *Server) maintenance(device string) (rules.Maintenance, bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	sv, err := s.Store.LastService(ctx, device)
	if err != nil {
		if !errors.Is(err, store.ErrNotFound) {
			s.log.Warn("rules: reading the last service", "device", device, "err", err)
		}
		return rules.Maintenance{}, false
	}
	return rules.Maintenance{Date: sv.Date, OdometerKm: sv.OdometerKm}, true
}
