// Package web serves Pitwall to people: the JSON API under /api/v1 and
// the owner and shop pages, with sign-in, sessions, CSRF protection and
// API tokens. It holds no logic of its own beyond who may see what: the
// work is done by the server, diagnosis and booking packages.
package web
