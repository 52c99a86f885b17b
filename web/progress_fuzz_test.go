package web

import (
	"bytes"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/pitwall-io/pitwall/booking"
)

// FuzzReadProgress sends the progress form reader any body under a fixed
// boundary: it never panics, and what it accepts keeps its bounds (at
// most six photos, each within MaxPhotoBytes, fields within 4,000 bytes).
func FuzzReadProgress(f *testing.F) {
	var good bytes.Buffer
	mw := multipart.NewWriter(&good)
	_ = mw.SetBoundary("fuzzboundary")
	_ = mw.WriteField("step", "repairing")
	_ = mw.WriteField("note", "New fan fitted")
	_ = mw.WriteField("csrf", "token")
	w, _ := mw.CreateFormFile("photo", "fan.jpg")
	_, _ = w.Write([]byte("\xff\xd8\xff\xe0 not really a jpeg"))
	_ = mw.Close()
	f.Add(good.Bytes())
	f.Add([]byte("--fuzzboundary\r\nContent-Disposition: form-data; name=\"photo\"; filename=\"\"\r\n\r\n\r\n--fuzzboundary--\r\n"))
	f.Add([]byte("--fuzzboundary\r\nContent-Disposition: form-data; name=\"colour\"\r\n\r\nred\r\n--fuzzboundary--\r\n"))
	f.Add([]byte("--fuzzboundary\r\nContent-Disposition: form-data; name=\"step\"\r\n\r\nunterminated"))
	f.Add([]byte("--fuzzboundary--\r\n"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, body []byte) {
		r := httptest.NewRequest(http.MethodPost, "/api/v1/bookings/b/progress", bytes.NewReader(body))
		r.Header.Set("Content-Type", "multipart/form-data; boundary=fuzzboundary")
		step, note, csrf, photos, err := readProgress(httptest.NewRecorder(), r)
		if err != nil {
			return
		}
		if len(photos) > booking.MaxPhotosPerStep {
			t.Fatalf("%d photos accepted", len(photos))
		}
		for i, p := range photos {
			if len(p) > booking.MaxPhotoBytes {
				t.Fatalf("photo %d of %d bytes accepted", i, len(p))
			}
		}
		for name, v := range map[string]string{"step": step, "note": note, "csrf": csrf} {
			if len(v) > 4000 {
				t.Fatalf("%s of %d bytes accepted", name, len(v))
			}
		}
	})
}
