package edge

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pitwall-io/pitwall/gateway/wire"
	"github.com/pitwall-io/pitwall/gateway/wire/wirepb"
	"github.com/pitwall-io/pitwall/testserver"
)

// clearCounter sits between the agent and the car's adapter and counts the
// service 04 requests (clear trouble codes) that reach the car.
type clearCounter struct {
	url    string
	clears atomic.Int32
}

func countClears(t *testing.T, adapterURL string) *clearCounter {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cc := &clearCounter{url: "tcp://" + l.Addr().String()}
	target := strings.TrimPrefix(adapterURL, "tcp://")
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			mu.Lock()
			conns = append(conns, c, up)
			mu.Unlock()
			wg.Add(2)
			go func() { defer wg.Done(); _, _ = io.Copy(c, up); c.Close() }()
			go func() {
				defer wg.Done()
				defer up.Close()
				r := bufio.NewReader(io.TeeReader(c, up))
				for {
					line, err := r.ReadString('\r')
					if err != nil {
						return
					}
					cmd := strings.ToUpper(strings.ReplaceAll(strings.TrimSpace(line), " ", ""))
					if cmd == "04" || len(cmd) == 3 && strings.HasPrefix(cmd, "04") {
						cc.clears.Add(1)
					}
				}
			}()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return cc
}

// A command that writes to the car runs only when it is signed with the
// device's key, fresh, new, not retained and for this device; each
// refusal says why in the command's result and leaves the car alone. A
// good one runs once, across a restart of the agent too.
func TestClearCodesAuthorised(t *testing.T) {
	t.Parallel()
	b := testserver.StartMosquitto(t, testserver.MosquittoOptions{})
	carURL, vc := startCar(t, "overheat", 15*time.Minute)
	car := countClears(t, carURL)
	cfg := testConfig(t, car.url, b.URL())
	key := wire.NewCommandKey()
	cfg.Commands.KeyFile = filepath.Join(t.TempDir(), "command.key")
	if err := os.WriteFile(cfg.Commands.KeyFile, []byte(wire.FormatCommandKey(key)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	w := watch(t, b.URL(), cfg.DeviceID)
	_, stop := runAgent(t, cfg)
	eventually(t, 20*time.Second, "the agent online", func() bool { w.mu.Lock(); defer w.mu.Unlock(); return w.samples > 0 })
	if len(vc.State().Stored) == 0 {
		t.Fatal("the overheating car has no stored codes to clear")
	}

	clear := func(device, id string, signKey []byte, at time.Time) []byte {
		c := &wirepb.Command{Header: wire.NewHeader(device, 3, 1), Id: id, Action: &wirepb.Command_ClearDtcs{ClearDtcs: &wirepb.ClearDTCs{}}}
		if signKey != nil {
			if err := wire.SignCommand(signKey, c, at, 2*time.Minute); err != nil {
				t.Fatal(err)
			}
		}
		raw, err := wire.Encode(c)
		if err != nil {
			t.Fatal(err)
		}
		return raw
	}
	publish := func(raw []byte, retained bool) {
		t.Helper()
		if tok := w.client.Publish(wire.Topic(cfg.DeviceID, wire.KindCommand), 1, retained, raw); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			t.Fatal(tok.Error())
		}
	}
	// results waits for the n-th result of a command id.
	results := func(id string, n int) []*wirepb.CommandResult {
		t.Helper()
		var got []*wirepb.CommandResult
		eventually(t, 20*time.Second, "the result of "+id, func() bool {
			w.mu.Lock()
			defer w.mu.Unlock()
			got = got[:0]
			for _, r := range w.results {
				if r.GetId() == id {
					got = append(got, r)
				}
			}
			return len(got) >= n
		})
		return got
	}
	refused := func(id, says string) {
		t.Helper()
		r := results(id, 1)[0]
		if r.GetOk() || !strings.HasPrefix(r.GetError(), "refused: ") || !strings.Contains(r.GetError(), says) || !strings.HasSuffix(r.GetError(), "; the car was not touched") {
			t.Errorf("%s: ok %v, error %q; want a refusal saying %q", id, r.GetOk(), r.GetError(), says)
		}
		if n := car.clears.Load(); n != 0 {
			t.Fatalf("after %s: %d clear requests reached the car", id, n)
		}
		if len(vc.State().Stored) == 0 {
			t.Fatalf("after %s the car's codes are gone", id)
		}
	}
	now := time.Now()
	publish(clear(cfg.DeviceID, "unsigned", nil, now), false)
	refused("unsigned", "not signed")
	publish(clear(cfg.DeviceID, "forged", wire.NewCommandKey(), now), false)
	refused("forged", "signature does not match")
	publish(clear(cfg.DeviceID, "expired", key, now.Add(-20*time.Minute)), false)
	refused("expired", "expired at")
	publish(clear(cfg.DeviceID, "early", key, now.Add(20*time.Minute)), false)
	refused("early", "after this receiver's clock")
	publish(clear("car-elsewhere", "elsewhere", key, now), false)
	refused("elsewhere", `for device "car-elsewhere"`)

	good := clear(cfg.DeviceID, "good", key, time.Now())
	publish(good, false)
	if r := results("good", 1)[0]; !r.GetOk() {
		t.Fatalf("a fresh signed command: %q", r.GetError())
	}
	if n := car.clears.Load(); n != 1 || len(vc.State().Stored) != 0 {
		t.Fatalf("after the good command: %d clear requests, stored codes %v", n, vc.State().Stored)
	}
	publish(good, false) // the same bytes again: a replay
	if r := results("good", 2)[1]; r.GetOk() || !strings.Contains(r.GetError(), "carried out once already") {
		t.Errorf("the replay: ok %v, %q", r.GetOk(), r.GetError())
	}

	// A restart: the agent remembers what it ran, and a retained copy of
	// a fresh, signed command is still refused.
	stop()
	retained := clear(cfg.DeviceID, "retained", key, time.Now())
	publish(retained, true)
	defer publish(nil, true) // take the retained message away again
	_, stop = runAgent(t, cfg)
	defer stop()
	if r := results("retained", 1)[0]; r.GetOk() || !strings.Contains(r.GetError(), "retained") {
		t.Errorf("the retained command: ok %v, %q", r.GetOk(), r.GetError())
	}
	publish(good, false)
	if r := results("good", 3)[2]; r.GetOk() || !strings.Contains(r.GetError(), "carried out once already") {
		t.Errorf("the replay after a restart: ok %v, %q", r.GetOk(), r.GetError())
	}
	if n := car.clears.Load(); n != 1 {
		t.Errorf("%d clear requests reached the car; want the one", n)
	}
}

// The record of commands run survives a restart, forgets ids once they
// have expired, and refuses to start from a damaged file.
func TestRanCommands(t *testing.T) {
	dir := t.TempDir()
	r, err := openRan(dir)
	if err != nil {
		t.Fatal(err)
	}
	now := time.UnixMilli(1763800000000)
	if err := r.claim("a", now.Add(time.Minute), now); err != nil {
		t.Fatal(err)
	}
	if err := r.claim("a", now.Add(time.Minute), now); !errors.Is(err, ErrAlreadyRan) {
		t.Errorf("claimed twice: %v", err)
	}
	r2, err := openRan(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := r2.claim("a", now.Add(time.Minute), now.Add(30*time.Second)); !errors.Is(err, ErrAlreadyRan) {
		t.Errorf("after a restart: %v", err)
	}
	if err := r2.claim("a", now.Add(3*time.Minute), now.Add(2*time.Minute)); err != nil {
		t.Errorf("after it expired, the id is free again (the signature's times refuse the old command): %v", err)
	}
	for i := range maxRemembered - 1 {
		if err := r2.claim(fmt.Sprintf("c-%d", i), now.Add(time.Hour), now); err != nil {
			t.Fatal(err)
		}
	}
	if err := r2.claim("one-too-many", now.Add(time.Hour), now); err == nil || errors.Is(err, ErrAlreadyRan) {
		t.Errorf("beyond the bound: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, ranFile), []byte("{half"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := openRan(dir); err == nil || !strings.Contains(err.Error(), ranFile) {
		t.Errorf("a damaged record: %v", err)
	}
	left, _ := os.ReadDir(dir)
	var names bytes.Buffer
	for _, e := range left {
		names.WriteString(e.Name() + " ")
	}
	if len(left) != 1 {
		t.Errorf("files left: %s", names.String())
	}
}

// The key is read from the file or the environment; a malformed one stops
// the agent with a clear error, and old clear-token settings say what
// replaced them.
func TestCommandKeyConfig(t *testing.T) {
	dir := t.TempDir()
	k := wire.NewCommandKey()
	file := filepath.Join(dir, "key")
	_ = os.WriteFile(file, []byte(wire.FormatCommandKey(k)), 0o600)
	got, err := commandKey(file)
	if err != nil || !bytes.Equal(got, k) {
		t.Fatalf("from the file: %x, %v", got, err)
	}
	t.Setenv(CommandKeyEnv, wire.FormatCommandKey(k))
	if got, err := commandKey(""); err != nil || !bytes.Equal(got, k) {
		t.Errorf("from the environment: %x, %v", got, err)
	}
	t.Setenv(CommandKeyEnv, "")
	if got, err := commandKey(""); err != nil || got != nil {
		t.Errorf("none: %x, %v", got, err)
	}
	_ = os.WriteFile(file, []byte("let-me-clear"), 0o600)
	if _, err := commandKey(file); err == nil || !strings.Contains(err.Error(), file) {
		t.Errorf("a malformed key: %v", err)
	}
	c := Config{DeviceID: "car-1", Adapter: "tcp://127.0.0.1:35000", Broker: BrokerConfig{URL: "tcp://127.0.0.1:1883"}, Spool: SpoolConfig{Dir: dir},
		Commands: CommandsConfig{ClearTokenFile: file}}
	c.Defaults()
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "commands.key_file") {
		t.Errorf("an old clear token: %v", err)
	}
}
