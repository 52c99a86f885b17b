// Package store keeps Pitwall's relational state: owners, vehicles,
// devices and their credentials, what the ingest learned of each device,
// the messages that are not time series (trouble codes, events, command
// results), shops, leads and bookings, alerts and the notification log.
//
// It runs on SQLite (a pure-Go driver, the embedded default) or on
// PostgreSQL (pgx), chosen by Open's argument: a postgres:// URL or a file
// path. One dialect layer makes the difference small: SQL is written once
// with ? placeholders (rebound to $n for PostgreSQL), constraint failures
// map to this package's errors on both, and where a check and a write
// must not interleave the store takes a row lock (FOR UPDATE, SKIP LOCKED
// for shared work) or makes the write compare-and-set, so several servers
// can share one PostgreSQL database. The schema grows by one set of
// numbered migrations in migrations/, in SQL both engines take; a line
// "--@ sqlite" or "--@ postgres" starts a part for one engine only, and
// "--@ all" ends it.
//
// The store keeps rows and makes each change atomic; which change is
// allowed when (the booking and offer lifecycles) is the booking
// package's.
package store
