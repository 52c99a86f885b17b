package pipeline

import (
	"strings"
	"testing"
	"time"

	"github.com/pitwall-io/pitwall/gateway/wire/wirepb"
	"github.com/pitwall-io/pitwall/rules"
)

// A trip's engine stops reach the rules: a rule on trip_engine_stops and
// trip_engine_off_s fires at the trip's end with the values the car sent.
func TestTripEngineStopsReachTheRules(t *testing.T) {
	set, err := rules.Parse("mine.yaml", []byte(`rules:
  - name: many-stops
    when: event == "trip_end" and trip_engine_stops >= 20 and trip_engine_off_s > 600
    summary: '{{printf "%.0f" (.Field "trip_engine_stops")}} engine stops, {{printf "%.0f" (.Field "trip_engine_off_s")}} s off'
`))
	if err != nil {
		t.Fatal(err)
	}
	e := rules.NewEngine(set)
	at := time.Now().Truncate(time.Millisecond)
	ev, ok := ruleEvent(&wirepb.Event{TimeMs: at.UnixMilli(), Kind: &wirepb.Event_TripEnd{TripEnd: &wirepb.TripEnd{TripId: 7, EngineStops: 24, EngineOffS: 840}}})
	if !ok {
		t.Fatal("a trip end is not an event for the rules")
	}
	alerts := e.Event("car-1", "", ev)
	if len(alerts) == 0 || alerts[0].Rule != "many-stops" || !strings.Contains(alerts[0].Summary, "24 engine stops, 840 s off") {
		t.Fatalf("alerts %+v", alerts)
	}
	ev, _ = ruleEvent(&wirepb.Event{TimeMs: at.Add(time.Hour).UnixMilli(), Kind: &wirepb.Event_TripEnd{TripEnd: &wirepb.TripEnd{TripId: 8, EngineStops: 2, EngineOffS: 30}}})
	if alerts := e.Event("car-1", "", ev); len(alerts) != 0 {
		t.Errorf("a trip with two stops: %+v", alerts)
	}
}
