package web

import (
	"log/slog"
	"math"
	"net/http/httptest"
	"strings"
	"testing"
)

// After sign-in, next goes only to a path on this server, however a
// browser would read it.
func TestSafeNext(t *testing.T) {
	for in, want := range map[string]string{
		"/garage":                  "/garage",
		"/vehicles/abc?x=1":        "/vehicles/abc?x=1",
		"":                         "/",
		"garage":                   "/",
		"//evil.example":           "/",
		"///evil.example":          "/",
		"/\\evil.example":          "/",
		"\\\\evil.example":         "/",
		"/\t/evil.example":         "/",
		"/\n/evil.example":         "/",
		"/%09/evil.example":        "/%09/evil.example",
		"https://evil.example/":    "/",
		"/https://evil.example":    "/https://evil.example",
		"javascript:alert(1)":      "/",
		"/x\x00y":                  "/",
		"/ok#frag":                 "/ok",
		"/%2F%2Fevil.example":      "/",
		"/a/../../evil":            "/a/../../evil",
		"/@evil.example":           "/@evil.example",
		strings.Repeat("/a", 2000): "/",
	} {
		if got := safeNext(in); got != want {
			t.Errorf("safeNext(%q) = %q, want %q", in, got, want)
		}
		if got := safeNext(in); strings.HasPrefix(got, "//") || strings.Contains(got, "\\") || strings.ContainsAny(got, "\t\n\r") {
			t.Errorf("safeNext(%q) = %q leaves the site", in, got)
		}
	}
}

// A value that cannot be encoded is a logged 500, never a 200 with an
// empty body.
func TestAnswersEncodeBeforeTheStatus(t *testing.T) {
	w := &Web{log: discard()}
	rec := httptest.NewRecorder()
	w.writeJSON(rec, 200, map[string]float64{"x": math.Inf(1)})
	if rec.Code != 500 || !strings.Contains(rec.Body.String(), `"internal"`) {
		t.Errorf("an unencodable answer: %d %q", rec.Code, rec.Body.String())
	}
}

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }
