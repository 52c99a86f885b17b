//go:build linux

package socketcan

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/go-daq/canbus"

	"github.com/pitwall-io/pitwall/obd/isotp"
)

// The descriptor lookup depends on canbus's private layout; this fails
// loudly if an upgrade changes it.
func TestDescriptorLookup(t *testing.T) {
	if _, err := fdOf(&canbus.Socket{}); err != nil {
		t.Fatal(err)
	}
}

func TestParseURL(t *testing.T) {
	c, err := ParseURL("socketcan://can0?extended=true&bitrate=250&p2=300ms")
	if err != nil || c.Interface != "can0" || !c.Extended || c.Bitrate != 250 || c.P2 != 300*time.Millisecond {
		t.Fatalf("%+v %v", c, err)
	}
	for _, bad := range []string{"socketcan://", "can://can0", "socketcan://can0?speed=1", "socketcan://can0?bitrate=125",
		"socketcan://can0?p2=5", "socketcan://can0?p2=1ms", "socketcan://can0?p2=1m"} {
		if _, err := ParseURL(bad); !errors.Is(err, ErrBadURL) {
			t.Errorf("%s: %v", bad, err)
		}
	}
}

// On a kernel with vcan (PITWALL_VCAN=vcan0, interface up), frames go out
// and come back through a second socket, and Close ends a blocked receive.
func TestVCAN(t *testing.T) {
	iface := os.Getenv("PITWALL_VCAN")
	if iface == "" {
		t.Skip("set PITWALL_VCAN to a vcan interface that is up; this kernel may have no CAN support")
	}
	a, err := Open(iface)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Open(iface, OBDFilters(false)...)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := a.Send(ctx, isotp.Frame{ID: 0x123, Data: []byte{1}}); err != nil { // filtered out
		t.Fatal(err)
	}
	if err := a.Send(ctx, isotp.Frame{ID: 0x7E8, Data: []byte{0x03, 0x41, 0x0D, 0x32}}); err != nil {
		t.Fatal(err)
	}
	f, err := b.Receive(ctx)
	if err != nil || f.ID != 0x7E8 || len(f.Data) != 4 {
		t.Fatalf("%v %v", f, err)
	}
	done := make(chan struct{})
	go func() { _, _ = b.Receive(context.Background()); close(done) }()
	_ = b.Close()
	<-done
	_ = a.Close()
}
