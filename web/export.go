package web

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"sort"
	"strconv"
	"time"

	"google.golang.org/protobuf/encoding/protojson"

	"github.com/pitwall-io/pitwall/gateway/wire"
	"github.com/pitwall-io/pitwall/series"
)

// exportChunk is how much of a signal's history is read at a time: the
// export streams, so an owner with years of data costs memory for a day.
const exportChunk = 24 * time.Hour

// exportMe streams everything Pitwall holds about the caller as one JSON
// file: the account, every stored record of theirs (cars, devices,
// services, alerts, notifications, feed, leads with consents and offers,
// bookings with their history, reviews), every message their dongles sent
// (decoded), and every stored sample of their cars' series.
func (w *Web) exportMe(rw http.ResponseWriter, r *http.Request, c *caller) error {
	return w.export(rw, r, c)
}

func (w *Web) exportPage(rw http.ResponseWriter, r *http.Request, c *caller) error {
	return w.export(rw, r, c)
}

func (w *Web) export(rw http.ResponseWriter, r *http.Request, c *caller) error {
	ctx := r.Context()
	av, err := w.account(ctx, c)
	if err != nil {
		return err
	}
	av.CSRF = ""
	recs, err := w.st.ExportOwner(ctx, c.OwnerID)
	if err != nil {
		return err
	}
	var devices []string
	for _, d := range recs["devices"] {
		if id, ok := d["id"].(string); ok {
			devices = append(devices, id)
		}
	}
	sort.Strings(devices)
	now := time.Now().UTC()
	h := rw.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Content-Disposition", fmt.Sprintf(`attachment; filename="pitwall-export-%s.json"`, now.Format("2006-01-02")))
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	rw.WriteHeader(http.StatusOK)
	bw := bufio.NewWriterSize(rw, 64<<10)
	if err := w.writeExport(ctx, bw, av, recs, devices, now); err != nil {
		// The status is out: the file is left unfinished, which no JSON
		// reader takes for a whole export.
		w.log.Error("web: an export broke off", "user", c.ID, "err", err)
		return nil
	}
	if err := bw.Flush(); err != nil {
		w.log.Error("web: an export broke off", "user", c.ID, "err", err)
	}
	return nil
}

func (w *Web) writeExport(ctx context.Context, out *bufio.Writer, av AccountView, recs map[string][]map[string]any, devices []string, now time.Time) error {
	put := func(prefix string, v any) error {
		b, err := json.Marshal(v)
		if err != nil {
			return err
		}
		if _, err := out.WriteString(prefix); err != nil {
			return err
		}
		_, err = out.Write(b)
		return err
	}
	if err := put(`{"format":"pitwall-export/1","exported_at":`, now); err != nil {
		return err
	}
	if err := put(`,"account":`, av); err != nil {
		return err
	}
	if err := put(`,"records":`, recs); err != nil {
		return err
	}
	if _, err := out.WriteString(`,"messages":[`); err != nil {
		return err
	}
	first := true
	for _, d := range devices {
		after, afterSeq := time.UnixMilli(-1), uint64(0)
		for {
			ms, err := w.st.MessagesAfter(ctx, d, after, afterSeq, 1000)
			if err != nil {
				return err
			}
			for _, m := range ms {
				body := json.RawMessage(`null`)
				if dec, err := wire.Decode(wire.Kind(m.Kind), m.Body); err == nil {
					if b, err := protojson.Marshal(dec); err == nil {
						body = b
					}
				}
				sep := ","
				if first {
					sep, first = "", false
				}
				if err := put(sep, map[string]any{"device": m.Device, "seq": m.Seq, "kind": m.Kind, "time": m.Time, "message": body}); err != nil {
					return err
				}
			}
			if len(ms) < 1000 {
				break
			}
			after, afterSeq = ms[len(ms)-1].Time, ms[len(ms)-1].Seq
		}
	}
	if _, err := out.WriteString(`],"series":{`); err != nil {
		return err
	}
	for i, d := range devices {
		if err := w.exportSeries(ctx, out, d, i == 0, recs, now); err != nil {
			return err
		}
	}
	_, err := out.WriteString("}}\n")
	return err
}

// exportSeries writes one device's samples: "device": {"signal": [[unix
// ms, value], ...], ...}.
func (w *Web) exportSeries(ctx context.Context, out *bufio.Writer, device string, first bool, recs map[string][]map[string]any, now time.Time) error {
	latest, err := w.cars.Latest(ctx, device, nil)
	if err != nil {
		return err
	}
	var signals []string
	for s := range latest {
		signals = append(signals, s)
	}
	sort.Strings(signals)
	from := now.Add(-365 * 24 * time.Hour)
	for _, d := range recs["devices"] {
		if d["id"] == device {
			if t, err := time.Parse(time.RFC3339Nano, fmt.Sprint(d["created_ms"])); err == nil {
				from = t
			}
		}
	}
	sep := ","
	if first {
		sep = ""
	}
	name, _ := json.Marshal(device)
	if _, err := fmt.Fprintf(out, "%s%s:{", sep, name); err != nil {
		return err
	}
	for i, sig := range signals {
		sname, _ := json.Marshal(sig)
		if i > 0 {
			out.WriteByte(',')
		}
		fmt.Fprintf(out, "%s:[", sname)
		n := 0
		for t := from.Truncate(exportChunk); t.Before(now.Add(time.Millisecond)); t = t.Add(exportChunk) {
			ss, err := w.hist.Range(ctx, series.Query{Device: device, Signals: []string{sig}, From: t, To: t.Add(exportChunk)})
			if err != nil {
				return err
			}
			for _, s := range ss {
				for _, v := range s.Values {
					if n > 0 {
						out.WriteByte(',')
					}
					n++
					writePoint(out, v)
				}
			}
		}
		if _, err := out.WriteString("]"); err != nil {
			return err
		}
	}
	_, err = out.WriteString("}")
	return err
}

func writePoint(out io.Writer, v series.Value) {
	b := make([]byte, 0, 40)
	b = append(b, '[')
	b = strconv.AppendInt(b, v.Time.UnixMilli(), 10)
	b = append(b, ',')
	if math.IsNaN(v.Value) || math.IsInf(v.Value, 0) {
		b = append(b, "null"...) // never stored by the ingest; kept valid JSON all the same
	} else {
		b = strconv.AppendFloat(b, v.Value, 'g', -1, 64)
	}
	b = append(b, ']')
	_, _ = out.Write(b)
}
