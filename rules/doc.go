// Package rules turns a car's stream into alerts: rule files in YAML,
// conditions in expr over VSS signal names (Vehicle.Speed > 120), held
// for a while before they fire and cleared by their own condition
// (hysteresis), window functions over recent values, conditions on
// trouble codes, maintenance and events, and an owner-facing summary per
// rule. An Engine evaluates them per vehicle as data arrives, on the
// data's own clock, and reports each alert that fires or resolves.
package rules
