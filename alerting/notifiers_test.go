package alerting

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/pitwall-io/pitwall/rules"
	"github.com/pitwall-io/pitwall/store"
	"github.com/pitwall-io/pitwall/testserver"
)

func sample() *Notification {
	a := Alert{Fingerprint: "abc", Device: "car-1", Rule: "overheat", Severity: rules.Critical, State: rules.Firing, StartsAt: t0,
		Summary: "Engine overheating: coolant at 112 °C. Stop where it is safe.", Labels: map[string]string{"alertname": "overheat"},
		Values: map[string]float64{"Vehicle.Powertrain.CombustionEngine.EngineCoolant.Temperature": 112.4}, Codes: []string{"P0217"}}
	return &Notification{ID: "n-1", Device: "car-1", Time: t0, Firing: []Alert{a},
		Recipient: store.Recipient{Owner: store.Owner{ID: "o-1", Email: "ana@example.com", Name: "Ana"}, Vehicle: store.Vehicle{Name: "the van"}}}
}

// The webhook signs its body, retries a server that fails, and does not
// retry one that refuses.
func TestWebhook(t *testing.T) {
	var calls atomic.Int32
	var bodies sync.Map
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := calls.Add(1)
		body, _ := io.ReadAll(r.Body)
		if got, want := r.Header.Get("X-Pitwall-Signature"), Sign("s3cret", r.Header.Get("X-Pitwall-Timestamp"), body); got != want {
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		if r.URL.Path == "/refuse" {
			http.Error(w, "no such hook", http.StatusNotFound)
			return
		}
		if n < 3 {
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return
		}
		bodies.Store(r.Header.Get("X-Pitwall-Notification-Id"), body)
	}))
	defer srv.Close()
	w := &Webhook{URL: srv.URL + "/hook", Secret: "s3cret", Backoff: 10 * time.Millisecond}
	if err := w.Notify(context.Background(), sample()); err != nil {
		t.Fatal(err)
	}
	if calls.Load() != 3 {
		t.Fatalf("%d calls, want 3 (two failures, then success)", calls.Load())
	}
	raw, ok := bodies.Load("n-1")
	var m Message
	if !ok || json.Unmarshal(raw.([]byte), &m) != nil || m.ID != "n-1" || len(m.Firing) != 1 || m.Firing[0].Values["Vehicle.Powertrain.CombustionEngine.EngineCoolant.Temperature"] != 112.4 || m.Owner != "o-1" {
		t.Fatalf("body %s", raw)
	}
	calls.Store(10)
	err := (&Webhook{URL: srv.URL + "/refuse", Secret: "s3cret", Backoff: time.Millisecond}).Notify(context.Background(), sample())
	if !errors.Is(err, ErrRefused) || calls.Load() != 11 {
		t.Fatalf("refused: %v after %d calls", err, calls.Load()-10)
	}
	calls.Store(10)
	err = (&Webhook{URL: srv.URL + "/hook", Secret: "wrong", Backoff: time.Millisecond}).Notify(context.Background(), sample())
	if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "401") {
		t.Fatalf("a wrong secret: %v", err)
	}
}

// Email goes over STARTTLS with a login, to the owner, in plain words
// with the evidence; a server without STARTTLS is refused.
func TestEmail(t *testing.T) {
	srv := testserver.StartSMTP(t, testserver.SMTPOptions{User: "pitwall", Password: "mailpass"})
	e := &Email{Addr: srv.Addr(), Username: "pitwall", Password: "mailpass", From: "alerts@pitwall.example",
		TLS: &tls.Config{RootCAs: srv.Pool, ServerName: "127.0.0.1"}}
	if err := e.Notify(context.Background(), sample()); err != nil {
		t.Fatal(err)
	}
	msgs, users := srv.Mails(), srv.Logins()
	if len(msgs) != 1 || len(users) != 1 {
		t.Fatalf("%d messages, logins %v", len(msgs), users)
	}
	m := msgs[0].Data
	for _, want := range []string{"To: ana@example.com", "Subject: =?utf-8?q?[Pitwall]_the_van:_Engine_overheating", "Message-ID: <n-1@pitwall>",
		"Hello Ana", "Vehicle.Powertrain.CombustionEngine.EngineCoolant.Temperature = 112.40", "trouble codes: P0217"} {
		if !strings.Contains(m, want) {
			t.Errorf("message lacks %q:\n%s", want, m)
		}
	}
	plain := testserver.StartSMTP(t, testserver.SMTPOptions{NoTLS: true})
	err := (&Email{Addr: plain.Addr(), From: "a@b"}).Notify(context.Background(), sample())
	if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "STARTTLS") {
		t.Fatalf("no STARTTLS: %v", err)
	}
	if err := (&Email{Addr: srv.Addr()}).Notify(context.Background(), &Notification{}); err != nil {
		t.Fatalf("no owner: %v", err)
	}
}

// The owner's app receives the notification on its topic, through a real
// Mosquitto.
func TestMQTTNotifier(t *testing.T) {
	b := testserver.StartMosquitto(t, testserver.MosquittoOptions{})
	connect := func(id string) paho.Client {
		c := paho.NewClient(paho.NewClientOptions().AddBroker(b.URL()).SetClientID(id))
		if tok := c.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
			t.Fatal(tok.Error())
		}
		t.Cleanup(func() { c.Disconnect(50) })
		return c
	}
	app := connect("app")
	got := make(chan []byte, 1)
	if tok := app.Subscribe(AppTopic("o-1"), 1, func(_ paho.Client, m paho.Message) { got <- m.Payload() }); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	pub := connect("server")
	n := &MQTT{Publish: func(ctx context.Context, topic string, payload []byte) error {
		tok := pub.Publish(topic, 1, false, payload)
		if !tok.WaitTimeout(5 * time.Second) {
			return errors.New("no PUBACK")
		}
		return tok.Error()
	}}
	if err := n.Notify(context.Background(), sample()); err != nil {
		t.Fatal(err)
	}
	select {
	case raw := <-got:
		var m Message
		if err := json.Unmarshal(raw, &m); err != nil || m.ID != "n-1" || m.Firing[0].Rule != "overheat" {
			t.Fatalf("app got %s", raw)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the app heard nothing")
	}
}

// The in-app feed streams each alert as a server-sent event, and a
// reader reconnecting with Last-Event-ID gets only what it missed.
func TestFeedSSE(t *testing.T) {
	st, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "pitwall.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	f := &Feed{Store: st, Heartbeat: 50 * time.Millisecond}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { f.ServeSSE(w, r, r.URL.Query().Get("owner")) }))
	defer srv.Close()

	type event struct{ id, data string }
	open := func(lastID string) (chan event, func()) {
		ctx, cancel := context.WithCancel(context.Background())
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"?owner=o-1", nil)
		if lastID != "" {
			req.Header.Set("Last-Event-ID", lastID)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
			t.Fatalf("content type %q", ct)
		}
		ch := make(chan event, 16)
		go func() {
			defer resp.Body.Close()
			sc := bufio.NewScanner(resp.Body)
			var ev event
			for sc.Scan() {
				line := sc.Text()
				switch {
				case strings.HasPrefix(line, "id: "):
					ev.id = line[4:]
				case strings.HasPrefix(line, "data: "):
					ev.data = line[6:]
				case line == "" && ev.data != "":
					ch <- ev
					ev = event{}
				}
			}
			close(ch)
		}()
		return ch, cancel
	}
	next := func(ch chan event) event {
		select {
		case ev := <-ch:
			return ev
		case <-time.After(5 * time.Second):
			t.Fatal("no event")
		}
		return event{}
	}
	ch, stop := open("")
	time.Sleep(100 * time.Millisecond) // subscribed
	n := sample()
	n.Time = time.Now()
	if err := f.Notify(context.Background(), n); err != nil {
		t.Fatal(err)
	}
	first := next(ch)
	var fe FeedEvent
	if json.Unmarshal([]byte(first.data), &fe) != nil || fe.State != "firing" || !strings.Contains(fe.Summary, "overheating") {
		t.Fatalf("event %+v", first)
	}
	stop()
	n2 := sample()
	n2.ID, n2.Time, n2.Firing, n2.Resolved = "n-2", time.Now().Add(time.Millisecond), nil, n.Firing
	if err := f.Notify(context.Background(), n2); err != nil {
		t.Fatal(err)
	}
	ch, stop = open(first.id)
	defer stop()
	got := next(ch)
	if json.Unmarshal([]byte(got.data), &fe) != nil || fe.State != "resolved" {
		t.Fatalf("after reconnecting: %+v", got)
	}
	select {
	case ev := <-ch:
		t.Fatalf("an event twice: %+v", ev)
	case <-time.After(200 * time.Millisecond):
	}
}
