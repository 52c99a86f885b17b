// Package series stores the cars' time series and reads them back: one
// interface with two engines behind it, InfluxDB (through its official Go
// client) for real deployments and an embedded SQLite file for the demo
// and single-car installs.
//
// A point is one device at one instant, with a field per signal (VSS
// names). Writing the same point again overwrites it with the same values,
// so the at-least-once delivery of MQTT never stores a sample twice.
package series
