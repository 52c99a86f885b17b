package wire

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/pitwall-io/pitwall/gateway/wire/wirepb"
)

func clearCommand(device, id string) *wirepb.Command {
	return &wirepb.Command{Header: NewHeader(device, 7, 1), Id: id, Action: &wirepb.Command_ClearDtcs{ClearDtcs: &wirepb.ClearDTCs{}}}
}

// The signed bytes, fixed: an agent in another language can check its
// implementation against this vector.
func TestCommandSignatureVector(t *testing.T) {
	key := bytes.Repeat([]byte{0x42}, CommandKeySize)
	c := clearCommand("car-1", "c-0001")
	if err := SignCommand(key, c, time.UnixMilli(1763800000000), 2*time.Minute); err != nil {
		t.Fatal(err)
	}
	b, _ := commandBytes("car-1", c)
	want := "\x00\x00\x00\x12pitwall/v1 command\x00\x00\x00\x05car-1\x00\x00\x00\x06c-0001\x00\x00\x00\x0aclear_dtcs" +
		"\x00\x00\x00\x0d1763800000000\x00\x00\x00\x0d1763800120000\x00\x00\x00\x00"
	if string(b) != want {
		t.Errorf("signed bytes\n%q\nwant\n%q", b, want)
	}
	if c.IssuedMs != 1763800000000 || c.ExpiresMs != 1763800120000 || len(c.Signature) != 32 {
		t.Errorf("times %d..%d, signature %x", c.IssuedMs, c.ExpiresMs, c.Signature)
	}
	// The action's fields are covered too.
	p := &wirepb.Command{Header: NewHeader("car-1", 7, 1), Id: "p", Action: &wirepb.Command_SetPollPlan{SetPollPlan: &wirepb.SetPollPlan{MaxRequestsPerSecond: 5}}}
	_ = SignCommand(key, p, time.UnixMilli(1763800000000), time.Minute)
	p.GetSetPollPlan().MaxRequestsPerSecond = 50
	if err := VerifyCommand(key, "car-1", p, time.UnixMilli(1763800000000), 0); !errors.Is(err, ErrSignature) {
		t.Errorf("a changed plan: %v", err)
	}
}

func TestVerifyCommand(t *testing.T) {
	key, other := NewCommandKey(), NewCommandKey()
	now := time.UnixMilli(1763800000000)
	signed := func(mod func(*wirepb.Command)) *wirepb.Command {
		c := clearCommand("car-1", "c-1")
		if err := SignCommand(key, c, now, 2*time.Minute); err != nil {
			t.Fatal(err)
		}
		if mod != nil {
			mod(c)
		}
		return c
	}
	if err := VerifyCommand(key, "car-1", signed(nil), now.Add(time.Minute), time.Minute); err != nil {
		t.Fatalf("a good command: %v", err)
	}
	for name, c := range map[string]struct {
		device string
		cmd    *wirepb.Command
		key    []byte
		at     time.Time
		want   error
		says   string
	}{
		"unsigned":        {"car-1", signed(func(c *wirepb.Command) { c.Signature = nil }), key, now, ErrUnsigned, "not signed"},
		"another key":     {"car-1", signed(nil), other, now, ErrSignature, "does not match"},
		"another device":  {"car-2", signed(nil), key, now, ErrSignature, "car-2"},
		"another id":      {"car-1", signed(func(c *wirepb.Command) { c.Id = "c-2" }), key, now, ErrSignature, "c-2"},
		"extended":        {"car-1", signed(func(c *wirepb.Command) { c.ExpiresMs += 3600_000 }), key, now, ErrSignature, ""},
		"another action":  {"car-1", signed(func(c *wirepb.Command) { c.Action = &wirepb.Command_ScanNow{ScanNow: &wirepb.ScanNow{}} }), key, now, ErrSignature, ""},
		"expired":         {"car-1", signed(nil), key, now.Add(2*time.Minute + 61*time.Second), ErrCommandTimes, "expired at"},
		"from the future": {"car-1", signed(nil), key, now.Add(-61 * time.Second), ErrCommandTimes, "after this receiver's clock"},
		"no key here":     {"car-1", signed(nil), nil, now, ErrSignature, "no command key"},
		"bad id":          {"car-1", signed(func(c *wirepb.Command) { c.Id = "a/b" }), key, now, ErrCommandID, ""},
		"a truncated mac": {"car-1", signed(func(c *wirepb.Command) { c.Signature = c.Signature[:16] }), key, now, ErrSignature, ""},
		"no action":       {"car-1", signed(func(c *wirepb.Command) { c.Action = nil }), key, now, ErrPayload, "without an action"},
		"ends before it starts": {"car-1", func() *wirepb.Command {
			c := clearCommand("car-1", "x")
			c.IssuedMs, c.ExpiresMs = 10, 5
			c.Signature = sign(key, c)
			return c
		}(), key, time.UnixMilli(7), ErrCommandTimes, "at most"},
		"lives a day": {"car-1", func() *wirepb.Command {
			c := clearCommand("car-1", "x")
			c.IssuedMs, c.ExpiresMs = 0, 86400_000
			c.Signature = sign(key, c)
			return c
		}(), key, time.UnixMilli(1000), ErrCommandTimes, "at most"},
	} {
		err := VerifyCommand(c.key, c.device, c.cmd, c.at, time.Minute)
		if !errors.Is(err, c.want) || !strings.Contains(err.Error(), c.says) {
			t.Errorf("%s: %v, want %v saying %q", name, err, c.want, c.says)
		}
	}
	if err := SignCommand(key, clearCommand("car-1", "x"), now, time.Hour); !errors.Is(err, ErrCommandTimes) {
		t.Errorf("an hour's lifetime: %v", err)
	}
}

func sign(key []byte, c *wirepb.Command) []byte {
	b, err := commandBytes(c.GetHeader().GetDeviceId(), c)
	if err != nil {
		panic(err)
	}
	return mac(key, b)
}

func TestCommandKeyText(t *testing.T) {
	k := NewCommandKey()
	s := FormatCommandKey(k)
	got, err := ParseCommandKey(s + "\n")
	if err != nil || !bytes.Equal(got, k) || len(s) != 43 {
		t.Fatalf("%q: %x, %v", s, got, err)
	}
	for _, bad := range []string{"", "short", s[:42], s + "A", strings.Replace(s, s[:1], "+", 1)} {
		if _, err := ParseCommandKey(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
