// Package pipeline is what happens to a car's messages once the ingest
// has stored them: its values and codes go through the rules, the alerts
// they raise to the alert manager, its codes and drives to verify-the-fix,
// and its newest values to the live view pages read.
//
// A car's rule state (windows, pending for: timers, codes in force) is
// rebuilt from the stored series and the stored alerts whenever this
// server starts answering for the car: Start rebuilds every car seen
// within the rules' horizon, Adopt the cars a clustered ingest hands over,
// and Release drops the cars it takes away. So a car whose server died
// with an overheat pending fires once on its successor, and a restart of
// every server tells nothing twice.
package pipeline
