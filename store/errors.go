package store

import "errors"

var (
	// ErrNotFound: no such owner, vehicle or device.
	ErrNotFound = errors.New("store: not found")
	// ErrExists: the id, email or VIN is taken.
	ErrExists = errors.New("store: already exists")
	// ErrDenied: a device's credentials are wrong, or it was revoked.
	ErrDenied = errors.New("store: credentials refused")
	// ErrExpired: a link or code that expired or was used already.
	ErrExpired = errors.New("store: expired or used")
	// ErrInvalid: a value the store will not keep.
	ErrInvalid = errors.New("store: invalid value")
)
