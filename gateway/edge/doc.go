// Package edge is the agent in the car: it reads the car through an OBD
// adapter on a poll plan built from the PIDs the car supports, watches the
// ignition, the engine, trips and the battery, keeps every message in a
// durable spool until the broker acknowledges it, publishes over MQTT in
// the wire format (TLS, credentials), and takes remote commands. It keeps
// reading the car while the network is down and the adapter or car come
// and go.
package edge
