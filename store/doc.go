// Package store keeps Pitwall's relational state: owners, vehicles,
// devices and their credentials, what the ingest learned of each device,
// and the messages that are not time series (trouble codes, events,
// command results). SQLite through a pure-Go driver is the embedded
// default; the SQL is kept portable for PostgreSQL, and the schema grows
// by numbered migrations in migrations/.
package store
