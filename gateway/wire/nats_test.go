package wire

import (
	"errors"
	"testing"
)

func TestNATSPartition(t *testing.T) {
	// dev1 lands in partition 7 of 16 on a real nats-server (the
	// partition() mapping); the ingest's cluster tests check the rest.
	if got := NATSPartition("dev1", 16); got != 7 {
		t.Errorf("NATSPartition(dev1, 16) = %d, want 7", got)
	}
	for _, id := range []string{"a", "car-00001", "Z_9"} {
		if p := NATSPartition(id, 5); p < 0 || p >= 5 {
			t.Errorf("%s: partition %d out of range", id, p)
		}
	}
}

func TestNATSPartSubject(t *testing.T) {
	s := NATSPartSubject("dev1", KindCommandResult, 16)
	if s != "pitwall.v1.part.7.dev1.cmd.result" {
		t.Fatalf("got %s", s)
	}
	for _, c := range []struct{ subject, topic string }{
		{"$MQTT.msgs." + s, "pitwall/v1/dev1/cmd/result"},
		{"pitwall.v1.part.7.dev1.telemetry", "pitwall/v1/dev1/telemetry"},
	} {
		p, topic, err := ParseNATSPartSubject(c.subject)
		if err != nil || p != 7 || topic != c.topic {
			t.Errorf("%s: got %d %q %v, want 7 %q", c.subject, p, topic, err, c.topic)
		}
	}
	for _, bad := range []string{"pitwall.v1.dev1.telemetry", "pitwall.v1.part.x.dev1.telemetry", "pitwall.v1.part.-1.d.telemetry", "pitwall.v1.part.3"} {
		if _, _, err := ParseNATSPartSubject(bad); !errors.Is(err, ErrTopic) {
			t.Errorf("%s: want ErrTopic, got %v", bad, err)
		}
	}
	pub, sub := NATSDeviceRights("dev1", 16)
	if len(pub) != 5 || pub[0] != "pitwall.v1.part.7.dev1.telemetry" || sub[0] != "pitwall.v1.dev1.cmd" {
		t.Errorf("rights %v %v", pub, sub)
	}
	if m := NATSMappings(16); m["pitwall.v1.*.cmd.result"] != "pitwall.v1.part.{{partition(16,1)}}.{{wildcard(1)}}.cmd.result" || len(m) != 5 {
		t.Errorf("mappings %v", m)
	}
}
