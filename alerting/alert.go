package alerting

import (
	"time"

	"github.com/pitwall-io/pitwall/rules"
	"github.com/pitwall-io/pitwall/store"
)

// Alert is an alert as the manager holds it and notifiers are told it,
// its state and severity typed.
type Alert struct {
	Fingerprint string
	Device      string
	Vehicle     string
	Rule        string
	Severity    rules.Severity
	Labels      map[string]string
	State       rules.State // Firing or Resolved
	StartsAt    time.Time
	EndsAt      time.Time // zero while firing
	Summary     string
	Values      map[string]float64
	Codes       []string
	// OneShot alerts are about a moment: told once, their end never.
	OneShot      bool
	SendResolved bool
	Updated      time.Time // when a manager last received it
}

// Firing reports whether the alert fires.
func (a Alert) Firing() bool { return a.State == rules.Firing }

// Critical reports whether the alert is critical: it waits for no group
// and no quiet hours.
func (a Alert) Critical() bool { return a.Severity == rules.Critical }

// fromRules is a rule engine's alert as received at now.
func fromRules(a rules.Alert, now time.Time) Alert {
	return Alert{Fingerprint: Fingerprint(a.Labels), Device: a.Device, Vehicle: a.Vehicle, Rule: a.Rule, Severity: a.Severity, Labels: a.Labels,
		State: a.State, StartsAt: a.StartsAt, EndsAt: a.EndsAt, Summary: a.Summary, Values: a.Values, Codes: a.Codes, OneShot: a.OneShot,
		SendResolved: a.SendResolved, Updated: now}
}

// FromStore reads a stored alert.
func FromStore(a store.Alert) Alert {
	return Alert{Fingerprint: a.Fingerprint, Device: a.Device, Vehicle: a.Vehicle, Rule: a.Rule, Severity: rules.Severity(a.Severity), Labels: a.Labels,
		State: rules.State(a.State), StartsAt: a.StartsAt, EndsAt: a.EndsAt, Summary: a.Summary, Values: a.Values, Codes: a.Codes,
		OneShot: a.OneShot, SendResolved: a.SendResolved, Updated: a.Updated}
}

// Stored is the alert as the store keeps it.
func (a Alert) Stored() store.Alert {
	return store.Alert{Fingerprint: a.Fingerprint, Device: a.Device, Vehicle: a.Vehicle, Rule: a.Rule, Severity: string(a.Severity), Labels: a.Labels,
		State: string(a.State), StartsAt: a.StartsAt, EndsAt: a.EndsAt, Summary: a.Summary, Values: a.Values, Codes: a.Codes,
		OneShot: a.OneShot, SendResolved: a.SendResolved, Updated: a.Updated}
}

// Rules is the alert in the rule engine's form (for an engine taking up
// what was stored).
func (a Alert) Rules() rules.Alert {
	return rules.Alert{Rule: a.Rule, Severity: a.Severity, Labels: a.Labels, Device: a.Device, Vehicle: a.Vehicle, State: a.State,
		StartsAt: a.StartsAt, EndsAt: a.EndsAt, Summary: a.Summary, Values: a.Values, Codes: a.Codes, OneShot: a.OneShot, SendResolved: a.SendResolved}
}
