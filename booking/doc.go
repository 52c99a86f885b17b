// Package booking brings a diagnosed fault to a repair shop: shops and
// what they offer, matching shops to a car's need with the reasons for
// each suggestion, leads the owner consents to share, quotes and slots,
// the booking lifecycle, verify-the-fix after the job, and maintenance
// reminders that turn into suggestions.
//
// The store holds the records and enforces consent and capacity; this
// package holds the rules: who may do what, in which state, with which
// values.
package booking
