package rules_test

import (
	"strings"
	"testing"

	"github.com/pitwall-io/pitwall/diagnosis"
	"github.com/pitwall-io/pitwall/rules"
)

// Every built-in rule that sees a fault in the live data names a symptom
// the knowledge base explains; a rule naming another is reported with its
// place and loses only the label.
func TestSymptomLabels(t *testing.T) {
	kb, err := diagnosis.Builtin()
	if err != nil {
		t.Fatal(err)
	}
	set := rules.Builtin()
	if err := set.CheckSymptoms(kb.SymptomIDs()); err != nil {
		t.Fatalf("the built-in pack: %v", err)
	}
	named := map[string]string{}
	for _, r := range set.Rules {
		if id := r.Labels[rules.SymptomLabel]; id != "" {
			named[r.Name] = id
		}
	}
	for rule, want := range map[string]string{"overheat": "overheat", "charging-low": "charging", "misfire-rising": "misfire", "lean-mixture": "lean"} {
		if named[rule] != want {
			t.Errorf("rule %s names symptom %q, want %q", rule, named[rule], want)
		}
	}

	mine, err := rules.Parse("mine.yaml", []byte("rules:\n  - name: hot\n    when: Vehicle.Speed > 1\n    labels: {symptom: boiling, system: cooling}\n    summary: hot\n"))
	if err != nil {
		t.Fatal(err)
	}
	err = mine.CheckSymptoms(kb.SymptomIDs())
	if err == nil || !strings.Contains(err.Error(), `mine.yaml:2: rule "hot": label symptom: "boiling"`) || !strings.Contains(err.Error(), "overheat") {
		t.Errorf("an unknown symptom: %v", err)
	}
	if _, ok := mine.Rules[0].Labels[rules.SymptomLabel]; ok || mine.Rules[0].Labels["system"] != "cooling" {
		t.Errorf("labels after the check: %v", mine.Rules[0].Labels)
	}
}
