package alerting

import (
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/pitwall-io/pitwall/rules"
)

// Message is a notification as JSON: what the webhook posts, what the
// owner's app receives over MQTT.
type Message struct {
	ID       string         `json:"id"`
	Device   string         `json:"device"`
	Vehicle  string         `json:"vehicle,omitempty"`
	Owner    string         `json:"owner,omitempty"`
	Time     time.Time      `json:"time"`
	Firing   []MessageAlert `json:"firing"`
	Resolved []MessageAlert `json:"resolved"`
}

// MessageAlert is one alert in a Message.
type MessageAlert struct {
	Fingerprint string             `json:"fingerprint"`
	Rule        string             `json:"rule"`
	Severity    rules.Severity     `json:"severity"`
	Summary     string             `json:"summary"`
	Labels      map[string]string  `json:"labels"`
	StartsAt    time.Time          `json:"starts_at"`
	EndsAt      *time.Time         `json:"ends_at,omitempty"`
	Values      map[string]float64 `json:"values,omitempty"`
	Codes       []string           `json:"codes,omitempty"`
}

// NewMessage describes a notification.
func NewMessage(n *Notification) Message {
	m := Message{ID: n.ID, Device: n.Device, Vehicle: n.Vehicle, Owner: n.Recipient.Owner.ID, Time: n.Time,
		Firing: []MessageAlert{}, Resolved: []MessageAlert{}}
	conv := func(a Alert) MessageAlert {
		x := MessageAlert{Fingerprint: a.Fingerprint, Rule: a.Rule, Severity: a.Severity, Summary: a.Summary, Labels: a.Labels,
			StartsAt: a.StartsAt, Values: a.Values, Codes: a.Codes}
		if !a.EndsAt.IsZero() {
			e := a.EndsAt
			x.EndsAt = &e
		}
		return x
	}
	for _, a := range n.Firing {
		m.Firing = append(m.Firing, conv(a))
	}
	for _, a := range n.Resolved {
		m.Resolved = append(m.Resolved, conv(a))
	}
	return m
}

// subject is a one-line account of a notification.
func subject(n *Notification) string {
	name := n.Recipient.Vehicle.Name
	if name == "" {
		name = n.Vehicle
	}
	if name == "" {
		name = n.Device
	}
	switch {
	case len(n.Firing) == 1 && len(n.Resolved) == 0:
		return fmt.Sprintf("%s: %s", name, firstSentence(n.Firing[0].Summary))
	case len(n.Firing) > 0:
		return fmt.Sprintf("%s: %d alerts (%s)", name, len(n.Firing), severest(n.Firing))
	default:
		return fmt.Sprintf("%s: resolved: %s", name, firstSentence(n.Resolved[0].Summary))
	}
}

func firstSentence(s string) string {
	if i := strings.Index(s, ". "); i > 0 {
		return s[:i+1]
	}
	return s
}

func severest(list []Alert) rules.Severity {
	best := list[0].Severity
	for _, a := range list[1:] {
		if a.Severity.Rank() > best.Rank() {
			best = a.Severity
		}
	}
	return best
}

// text is a notification in plain words, for email.
func text(n *Notification) string {
	var b strings.Builder
	if n.Recipient.Owner.Name != "" {
		fmt.Fprintf(&b, "Hello %s,\n\n", n.Recipient.Owner.Name)
	}
	for _, a := range n.Firing {
		fmt.Fprintf(&b, "%s (%s, since %s)\n", a.Summary, a.Severity, a.StartsAt.UTC().Format("2006-01-02 15:04 UTC"))
		writeEvidence(&b, a)
		b.WriteString("\n")
	}
	for _, a := range n.Resolved {
		fmt.Fprintf(&b, "Over: %s (%s to %s)\n\n", firstSentence(a.Summary), a.StartsAt.UTC().Format("15:04"), a.EndsAt.UTC().Format("15:04 UTC"))
	}
	fmt.Fprintf(&b, "-- \nPitwall, for %s. Reference %s.\n", n.Device, n.ID)
	return b.String()
}

func writeEvidence(b *strings.Builder, a Alert) {
	keys := make([]string, 0, len(a.Values))
	for k := range a.Values {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := a.Values[k]
		if math.Abs(v-math.Round(v)) < 1e-9 {
			fmt.Fprintf(b, "  %s = %.0f\n", k, v)
		} else {
			fmt.Fprintf(b, "  %s = %.2f\n", k, v)
		}
	}
	if len(a.Codes) > 0 {
		fmt.Fprintf(b, "  trouble codes: %s\n", strings.Join(a.Codes, ", "))
	}
}
