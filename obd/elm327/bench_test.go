package elm327

import (
	"testing"

	"github.com/pitwall-io/pitwall/obd"
)

// What parsing one answer costs the host: a two-ECU single-frame answer
// and a three-frame VIN, as the adapter prints them with headers on.
func BenchmarkParseReply(b *testing.B) {
	lay := layout{proto: obd.ProtocolCAN11_500, headers: true}
	for _, c := range []struct{ name, raw string }{
		{"two-ecus", "7E804410C1AF8\r7E904410C1AFC\r\r"},
		{"vin-3-frames", "7E81014490201314731\r7E8214A433534343452\r7E82237323532333637\r\r"},
	} {
		b.Run(c.name, func(b *testing.B) {
			raw := []byte(c.raw)
			b.ReportAllocs()
			for b.Loop() {
				lines, err := screen("010C", raw, false)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := decode("010C", raw, lines, lay); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
