package wire

import (
	"fmt"
	"hash/fnv"
	"sort"
	"strconv"
	"strings"
)

// On a NATS cluster the cars still speak MQTT: the server turns topic
// pitwall/v1/{device}/{kind} into subject pitwall.v1.{device}.{kind}
// ("/" becomes "."). What a car sends is then mapped, by the account's
// subject mapping, to a partition chosen by a hash of the device id:
//
//	pitwall.v1.part.{partition}.{device}.{kind}
//
// so that one consumer per partition sees each of its cars' messages in
// order, and one server at a time consumes a partition.

// NATSPartPrefix opens every partitioned subject.
const NATSPartPrefix = "pitwall.v1.part."

// upstream are the kinds a car sends: the ones mapped to partitions.
var upstream = []Kind{KindTelemetry, KindDTC, KindEvent, KindStatus, KindCommandResult}

// NATSPartition is the partition of a device among n: the FNV-1a hash of
// its id modulo n, as NATS's partition() mapping function computes it.
func NATSPartition(device string, n int) int {
	if n <= 0 {
		return 0
	}
	h := fnv.New32a()
	_, _ = h.Write([]byte(device))
	return int(h.Sum32() % uint32(n))
}

// NATSSubject is the subject NATS gives a topic.
func NATSSubject(topic string) string { return strings.ReplaceAll(topic, "/", ".") }

// NATSPartSubject is the subject a device's message of a kind is mapped to.
func NATSPartSubject(device string, k Kind, partitions int) string {
	return NATSPartPrefix + strconv.Itoa(NATSPartition(device, partitions)) + "." + device + "." + NATSSubject(string(k))
}

// NATSMappings are the account's subject mappings that partition what
// cars send among n partitions, source to destination, for the NATS
// configuration (mappings { ... } in the account of the devices).
func NATSMappings(n int) map[string]string {
	m := map[string]string{}
	for _, k := range upstream {
		kind := NATSSubject(string(k))
		m[NATSSubject(Prefix)+"*."+kind] = fmt.Sprintf("%s{{partition(%d,1)}}.{{wildcard(1)}}.%s", NATSPartPrefix, n, kind)
	}
	return m
}

// NATSMappingsConfig is NATSMappings as a block of NATS configuration.
func NATSMappingsConfig(n int) string {
	m := NATSMappings(n)
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString("mappings: {\n")
	for _, k := range keys {
		fmt.Fprintf(&b, "  %q: %q\n", k, m[k])
	}
	b.WriteString("}\n")
	return b.String()
}

// NATSDeviceRights are the subjects a device may publish to (its own
// messages, in its own partition) and subscribe to (its own commands).
func NATSDeviceRights(device string, partitions int) (pub, sub []string) {
	for _, k := range upstream {
		pub = append(pub, NATSPartSubject(device, k, partitions))
	}
	return pub, []string{NATSSubject(Topic(device, KindCommand))}
}

// ParseNATSPartSubject splits a partitioned subject (with or without a
// stream's prefix before pitwall.) into its partition and the MQTT topic
// the car published on.
func ParseNATSPartSubject(subject string) (partition int, topic string, err error) {
	i := strings.Index(subject, NATSPartPrefix)
	if i < 0 {
		return 0, "", fmt.Errorf("%w: subject %q is not partitioned (%s…)", ErrTopic, subject, NATSPartPrefix)
	}
	p, rest, ok := strings.Cut(subject[i+len(NATSPartPrefix):], ".")
	n, err := strconv.Atoi(p)
	if !ok || err != nil || n < 0 {
		return 0, "", fmt.Errorf("%w: subject %q has no partition number", ErrTopic, subject)
	}
	return n, Prefix + strings.ReplaceAll(rest, ".", "/"), nil
}
