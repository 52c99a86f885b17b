package alerting

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"time"
)

// Webhook posts each notification as JSON (Message) to a URL, signed:
// X-Pitwall-Signature is "sha256=" and the hex HMAC-SHA256, keyed with
// the shared secret, of the X-Pitwall-Timestamp value, a dot, and the
// body. X-Pitwall-Notification-Id repeats the message id for receivers
// that deduplicate. Failures that may pass (no answer, 5xx, 429, 408)
// are retried with backoff; a 4xx is not.
type Webhook struct {
	URL    string
	Secret string
	Client *http.Client
	// Attempts is how many times to try (5 by default); Backoff the first
	// wait, doubled each time with jitter (500 ms by default).
	Attempts int
	Backoff  time.Duration
}

// Name is "webhook".
func (w *Webhook) Name() string { return "webhook" }

// Sign computes the signature header value for a timestamp and body.
func Sign(secret, timestamp string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(timestamp))
	mac.Write([]byte{'.'})
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// Notify posts the notification, retrying what may pass.
func (w *Webhook) Notify(ctx context.Context, n *Notification) error {
	body, err := json.Marshal(NewMessage(n))
	if err != nil {
		return err
	}
	return w.Post(ctx, body, n.ID)
}

// Post sends a JSON body signed as Notify does, id in
// X-Pitwall-Notification-Id, retrying what may pass. Other senders (shop
// leads) use it with their own bodies.
func (w *Webhook) Post(ctx context.Context, body []byte, id string) error {
	client := w.Client
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	attempts, backoff := w.Attempts, w.Backoff
	if attempts <= 0 {
		attempts = 5
	}
	if backoff <= 0 {
		backoff = 500 * time.Millisecond
	}
	var last error
	for i := range attempts {
		if i > 0 {
			wait := backoff/2 + time.Duration(rand.Int64N(int64(backoff)))
			select {
			case <-ctx.Done():
				return fmt.Errorf("webhook %s: %w (last: %v)", w.URL, ctx.Err(), last)
			case <-time.After(wait):
			}
			backoff *= 2
		}
		retry, err := w.post(ctx, client, body, id)
		if err == nil {
			return nil
		}
		last = err
		if !retry {
			return err
		}
	}
	return fmt.Errorf("webhook %s: gave up after %d attempts: %w", w.URL, attempts, last)
}

func (w *Webhook) post(ctx context.Context, client *http.Client, body []byte, id string) (retry bool, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.URL, bytes.NewReader(body))
	if err != nil {
		return false, fmt.Errorf("webhook %s: %w", w.URL, err)
	}
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Pitwall")
	req.Header.Set("X-Pitwall-Notification-Id", id)
	req.Header.Set("X-Pitwall-Timestamp", ts)
	req.Header.Set("X-Pitwall-Signature", Sign(w.Secret, ts, body))
	resp, err := client.Do(req)
	if err != nil {
		return ctx.Err() == nil, fmt.Errorf("webhook %s: %w", w.URL, err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return false, nil
	case resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusRequestTimeout:
		return true, fmt.Errorf("webhook %s: %s: %s", w.URL, resp.Status, bytes.TrimSpace(msg))
	default:
		return false, errors.Join(ErrRefused, fmt.Errorf("webhook %s: %s: %s", w.URL, resp.Status, bytes.TrimSpace(msg)))
	}
}

// ErrRefused is a notification the receiver refused for good.
var ErrRefused = errors.New("alerting: the receiver refused the notification")

var _ Notifier = (*Webhook)(nil)
