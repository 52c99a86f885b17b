package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/pitwall-io/pitwall/gateway/wire"
	"github.com/pitwall-io/pitwall/gateway/wire/wirepb"
)

func runTail(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("tail", "--broker URL [--user NAME --secret-file FILE] [--device ID] [--json] [--time rfc3339|unix]",
		"Prints the wire messages passing the broker. With --json, one JSON object a line with device,\n"+
			"seq, boot, kind and, for telemetry, samples ({signal, t, value}) decoded with the aliases of\n"+
			"the device's birth message. It logs in as a server user (`pitwall users add NAME --role server`\n"+
			"for the embedded broker); the secret comes from --secret-file or "+secretEnv+", never argv.", stdout)
	broker := fs.String("broker", "tcp://127.0.0.1:1883", "MQTT broker URL")
	device := fs.String("device", "", "only this device")
	asJSON := fs.Bool("json", false, "one JSON object a line")
	timeFmt := fs.String("time", "rfc3339", "sample times as rfc3339 or unix (milliseconds)")
	user := fs.String("user", "", "server user name for the broker")
	secretFile := fs.String("secret-file", "", "file holding the user's secret (or set "+secretEnv+")")
	for _, a := range args {
		if name, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "="); strings.HasPrefix(a, "-") && (name == "secret" || name == "password") {
			return usageError{"a secret on the command line shows in `ps`: give --secret-file FILE or set " + secretEnv}
		}
	}
	if err := parse(fs, args); err != nil {
		return err
	}
	secret := os.Getenv(secretEnv)
	if *secretFile != "" {
		b, err := os.ReadFile(*secretFile)
		if err != nil {
			return err
		}
		secret = strings.TrimSpace(string(b))
	}
	if *user != "" && secret == "" {
		return usageError{"--user needs its secret: --secret-file FILE or " + secretEnv}
	}
	if *timeFmt != "rfc3339" && *timeFmt != "unix" {
		return usageError{"--time is rfc3339 or unix"}
	}
	filter := wire.Prefix + "+/#"
	if *device != "" {
		if err := wire.ValidDeviceID(*device); err != nil {
			return usageError{err.Error()}
		}
		filter = wire.Prefix + *device + "/#"
	}
	var mu sync.Mutex
	aliases := map[string]*wire.Aliases{} // device/boot → table
	enc := json.NewEncoder(stdout)
	handle := func(_ mqtt.Client, msg mqtt.Message) {
		dev, kind, err := wire.ParseTopic(msg.Topic())
		if err != nil {
			return
		}
		m, err := wire.Decode(kind, msg.Payload())
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			fmt.Fprintf(stderr, "%s: %v\n", msg.Topic(), err)
			return
		}
		h := m.GetHeader()
		key := fmt.Sprintf("%s/%016x", dev, h.GetBootId())
		out := map[string]any{"device": dev, "seq": h.GetSeq(), "boot": fmt.Sprintf("%016x", h.GetBootId()), "kind": string(kind)}
		switch x := m.(type) {
		case *wirepb.Status:
			if x.GetOnline() {
				if a, err := wire.AliasesFromBirth(x); err == nil {
					aliases[key] = a
				}
			}
			out["online"], out["vin"], out["signals"] = x.GetOnline(), x.GetVin(), len(x.GetSignals())
		case *wirepb.Telemetry:
			a := aliases[key]
			if a == nil {
				out["error"] = "no birth message seen for this boot yet: aliases unknown"
				break
			}
			ss, err := wire.Samples(x, a)
			if err != nil {
				out["error"] = err.Error()
			}
			var samples []map[string]any
			for _, s := range ss {
				var t any = s.Time.Format(time.RFC3339Nano)
				if *timeFmt == "unix" {
					t = s.Time.UnixMilli()
				}
				samples = append(samples, map[string]any{"signal": s.Signal, "t": t, "value": s.Value})
			}
			out["samples"] = samples
		default:
			var body map[string]any
			if b, err := protojson.Marshal(m); err == nil && json.Unmarshal(b, &body) == nil {
				delete(body, "header")
				for k, v := range body {
					out[k] = v
				}
			}
		}
		if *asJSON {
			_ = enc.Encode(out)
			return
		}
		fmt.Fprintf(stdout, "%s #%d %s", dev, h.GetSeq(), kind)
		if s, ok := out["samples"].([]map[string]any); ok {
			fmt.Fprintf(stdout, " %d samples", len(s))
		}
		fmt.Fprintln(stdout)
	}
	o := mqtt.NewClientOptions().AddBroker(*broker).SetClientID(fmt.Sprintf("pitwall-tail-%d", time.Now().UnixNano())).
		SetAutoReconnect(true).SetDefaultPublishHandler(handle).
		SetOnConnectHandler(func(c mqtt.Client) {
			t := c.Subscribe(filter, 1, handle)
			go func() {
				if !t.WaitTimeout(15*time.Second) || t.Error() != nil {
					fmt.Fprintf(stderr, "subscribing to %s: %v\n", filter, t.Error())
					return
				}
				if st, ok := t.(*mqtt.SubscribeToken); ok {
					for topic, code := range st.Result() {
						if code >= 0x80 {
							fmt.Fprintf(stderr, "the broker refused the subscription to %s (code %#x): is the user a server user?\n", topic, code)
						}
					}
				}
			}()
		})
	if *user != "" {
		o.SetUsername(*user).SetPassword(secret)
	}
	c := mqtt.NewClient(o)
	if t := c.Connect(); !t.WaitTimeout(15*time.Second) || t.Error() != nil {
		if t.Error() == nil {
			return fmt.Errorf("connecting to %s: no answer within 15 s", *broker)
		}
		return fmt.Errorf("connecting to %s as %q: %v", *broker, *user, t.Error())
	}
	<-ctx.Done()
	c.Disconnect(250)
	return nil
}
