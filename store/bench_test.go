package store

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/pitwall-io/pitwall/testserver"
)

// BenchmarkIngestWrites measures what the ingest writes to the store: the
// messages of a batch (trouble-code reports, events, command results) in
// one transaction, each kept once by device and sequence, with the
// statuses of the devices that sent them. Both engines durable: SQLite
// with full sync, PostgreSQL with its defaults (fsync, synchronous
// commit). writers is how many ingest writers (consumers, or servers)
// write at once. Reported as messages/s.
//
//	go test -run - -bench IngestWrites ./store/
func BenchmarkIngestWrites(b *testing.B) {
	dbs := map[string]string{"sqlite": filepath.Join(b.TempDir(), "pitwall.db")}
	if !testing.Short() {
		pg := testserver.StartPostgresWith(b, testserver.PostgresOptions{Durable: true})
		dbs["postgres"] = testserver.NewDatabase(b, pg.URL())
	}
	for _, engine := range []string{"sqlite", "postgres"} {
		dsn, ok := dbs[engine]
		if !ok {
			continue
		}
		s, err := Open(context.Background(), dsn)
		if err != nil {
			b.Fatal(err)
		}
		for _, batch := range []int{1, 100} {
			for _, writers := range []int{1, 4} {
				b.Run(fmt.Sprintf("%s/batch=%d/writers=%d", engine, batch, writers), func(b *testing.B) {
					benchWrites(b, s, batch, writers)
				})
			}
		}
		s.Close()
	}
}

var benchRun int

func benchWrites(b *testing.B, s *Store, batch, writers int) {
	ctx := context.Background()
	benchRun++
	body := make([]byte, 180) // a trouble-code report with a few codes
	t0 := time.Now()
	var seq [64]uint64
	b.ResetTimer()
	var wg sync.WaitGroup
	batches := (b.N + batch - 1) / batch
	per := (batches + writers - 1) / writers
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < per; i++ {
				msgs := make([]Message, batch)
				sts := make([]DeviceStatus, 0, 4)
				for j := range msgs {
					dev := fmt.Sprintf("bench-%d-%d-%02d", benchRun, w, j%16)
					seq[w*16+j%16]++
					msgs[j] = Message{Device: dev, Seq: seq[w*16+j%16], Boot: 1, Kind: "dtc", Time: t0.Add(time.Duration(i) * time.Millisecond), Body: body}
					if j < 4 {
						sts = append(sts, DeviceStatus{Device: dev, Online: true, Seen: msgs[j].Time, Boot: 1, LastSeq: msgs[j].Seq})
					}
				}
				if err := s.SaveMessages(ctx, msgs); err != nil {
					b.Error(err)
					return
				}
				if i%10 == 0 {
					if err := s.SaveStatuses(ctx, sts); err != nil {
						b.Error(err)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64(per*writers*batch)/b.Elapsed().Seconds(), "msgs/s")
}
