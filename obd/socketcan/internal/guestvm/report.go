package guestvm

import (
	"bufio"
	"bytes"
	"encoding/json"
)

// Marker starts each line of the guest's report on its console, so that
// the report can be told from the kernel's own messages.
const Marker = "@pitwall "

// Kinds of report lines.
const (
	KindBoot  = "boot"  // init is running; Uptime says when it started
	KindCheck = "check" // one check's result
	KindEnd   = "end"   // all checks ran; the guest powers off next
)

// Event is one line of the guest's report.
type Event struct {
	Kind    string  `json:"kind"`
	Name    string  `json:"name,omitempty"`
	OK      bool    `json:"ok"`
	Detail  string  `json:"detail,omitempty"`
	Seconds float64 `json:"seconds,omitempty"` // how long a check took, on the guest's clock
	Uptime  float64 `json:"uptime,omitempty"`  // seconds since the guest's kernel started
}

// Line is the event as the guest prints it: the marker, one JSON object
// and a newline.
func (e Event) Line() []byte {
	b, _ := json.Marshal(e) // plain fields only: cannot fail
	return append(append([]byte(Marker), b...), '\n')
}

// Parse reads the report out of a console transcript. A line whose JSON
// does not decode (the kernel may have printed into the middle of it) is
// left out; the caller notices the check it lacks.
func Parse(console []byte) []Event {
	var out []Event
	sc := bufio.NewScanner(bytes.NewReader(console))
	sc.Buffer(make([]byte, 64*1024), 4*1024*1024)
	for sc.Scan() {
		line := sc.Bytes()
		i := bytes.Index(line, []byte(Marker))
		if i < 0 {
			continue
		}
		var e Event
		if err := json.Unmarshal(bytes.TrimSpace(line[i+len(Marker):]), &e); err == nil && e.Kind != "" {
			out = append(out, e)
		}
	}
	return out
}
