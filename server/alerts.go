package server

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/pitwall-io/pitwall/alerting"
	"github.com/pitwall-io/pitwall/gateway/ingest"
	"github.com/pitwall-io/pitwall/gateway/wire/wirepb"
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
	Webhook        WebhookConfig `yaml:"webhook"`
	Email          EmailConfig   `yaml:"email"`
	MQTT           MQTTAlerts    `yaml:"mqtt"`
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

// evaluate hands what the ingest stored to the rules, and their alerts
// to the alert manager. It runs on the ingest's write path.
func (s *Server) evaluate(ctx context.Context, records []ingest.Record) error {
	var alerts []rules.Alert
	for _, r := range records {
		vehicle := ""
		switch m := r.Message.(type) {
		case *wirepb.Telemetry:
			var samples []rules.Sample
			for _, p := range r.Points {
				vehicle = p.Vehicle
				s.live.update(r.Device, p.Time, p.Fields)
				for _, f := range p.Fields {
					samples = append(samples, rules.Sample{Signal: f.Signal, Time: p.Time, Value: f.Value})
				}
			}
			alerts = append(alerts, s.Rules.Samples(r.Device, vehicle, samples)...)
		case *wirepb.DTCReport:
			c := rules.Codes{Time: time.UnixMilli(m.GetTimeMs()), MIL: m.GetMil()}
			for _, x := range m.GetStored() {
				c.Stored = append(c.Stored, x.GetCode())
			}
			for _, x := range m.GetPending() {
				c.Pending = append(c.Pending, x.GetCode())
			}
			alerts = append(alerts, s.Rules.Codes(r.Device, vehicle, c)...)
			s.observeRepairs(r.Device, m)
		case *wirepb.Event:
			if ev, ok := ruleEvent(m); ok {
				alerts = append(alerts, s.Rules.Event(r.Device, vehicle, ev)...)
			}
			s.observeRepairs(r.Device, m)
		}
	}
	if len(alerts) == 0 {
		return nil
	}
	if err := s.Alerts.Receive(ctx, alerts); err != nil {
		return fmt.Errorf("%d alerts could not be stored: %w", len(alerts), err)
	}
	return nil
}

// ruleEvent turns a wire event into the rules' form.
func ruleEvent(m *wirepb.Event) (rules.Event, bool) {
	ev := rules.Event{Time: time.UnixMilli(m.GetTimeMs()), Fields: map[string]any{}}
	switch k := m.GetKind().(type) {
	case *wirepb.Event_Ignition:
		ev.Kind = "ignition_off"
		if k.Ignition.GetOn() {
			ev.Kind = "ignition_on"
		}
		ev.Fields["engine_running"] = k.Ignition.GetEngineRunning()
	case *wirepb.Event_TripStart:
		ev.Kind = "trip_start"
	case *wirepb.Event_TripEnd:
		ev.Kind = "trip_end"
		ev.Fields["trip_distance_km"] = k.TripEnd.GetDistanceKm()
		ev.Fields["trip_duration_s"] = k.TripEnd.GetDurationS()
		ev.Fields["trip_fuel_used_l"] = k.TripEnd.GetFuelUsedL()
		ev.Fields["trip_max_coolant_c"] = k.TripEnd.GetMaxCoolantC()
	case *wirepb.Event_Battery:
		ev.Kind = "battery"
		ev.Fields["battery_condition"] = k.Battery.GetCondition()
		ev.Fields["battery_volts"] = k.Battery.GetVolts()
	default:
		return ev, false
	}
	return ev, true
}

// restoreAlerts gives the rule engine the alerts that were firing when
// the server stopped, so a restart tells nothing twice.
func (s *Server) restoreAlerts(ctx context.Context) error {
	firing, err := s.Store.Alerts(ctx, "", true, 1_000_000)
	if err != nil {
		return err
	}
	restored := make([]rules.Alert, 0, len(firing))
	for _, a := range firing {
		restored = append(restored, rules.Alert{Rule: a.Rule, Severity: rules.Severity(a.Severity), Labels: a.Labels, Device: a.Device,
			Vehicle: a.Vehicle, State: rules.State(a.State), StartsAt: a.StartsAt, Summary: a.Summary, Values: a.Values, Codes: a.Codes,
			OneShot: a.OneShot, SendResolved: a.SendResolved})
	}
	s.Rules.Restore(restored)
	if len(restored) > 0 {
		s.log.Info("rules: took up firing alerts", "alerts", len(restored))
	}
	return nil
}
